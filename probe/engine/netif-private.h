/* What netif.c shares with the platform's sides (netif_linux.c,
 * netif_windows.c), which read the interfaces, routes and counters. */
#pragma once

#include "netif.h"

/* An interface with its index and empty address lists (name, class, kind and
 * reason are the platform's to set). */
NetifInterface *netif_interface_new(int index);
void netif_interface_free(gpointer p);
/* An inventory of no interfaces yet. */
NetifInventory *netif_inventory_empty(void);
void netif_route_entry_free(gpointer p);
