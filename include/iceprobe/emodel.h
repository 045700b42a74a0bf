/* The E-model: ITU-T G.107 (narrowband) and G.107.1 (wideband) transmission
 * rating R, and the MOS it maps to, for a codec shape under delay and packet loss.
 *
 * Narrowband, G.107 §7 with every parameter at its default (§7.7, Table 3) except
 * the ones a network path sets: mouth-to-ear delay Ta, the talker-echo path T
 * (= Ta, the echo is cancelled at the far end with TELR 65 dB) and the listener-
 * echo round trip Tr (= 2 Ta), and the codec's Ie, Bpl and the stream's Ppl and
 * BurstR. At Ta = 0 with no loss that is R = 93.2, G.107's own default rating.
 *
 * Wideband, G.107.1: R = Ro,WB - Id - Ie,eff,WB with Ro,WB = 129, Is,WB = 0 and
 * A = 0 (its defaults), Id its absolute-delay term Idd (as G.107's); the echo
 * terms are left out (an echo-cancelled endpoint). Its MOS is G.107.1 Annex A:
 * G.107's Annex B mapping of R / 1.29.
 *
 * The codec values are G.113's provisional planning values (Appendix I for
 * narrowband, Appendix IV for AMR-WB): planning figures, not a listening test. */
#pragma once

#include <glib.h>

typedef struct {
    const char *name;     /* as a profile names it: "g711", "g729a", "amr-wb" */
    const char *describe; /* for people */
    gboolean wideband;    /* rated on G.107.1's scale */
    double ie;            /* Ie (Ie,WB for wideband): impairment without loss */
    double bpl;           /* Bpl: robustness to random packet loss */
    guint ptime_ms;       /* the usual packetisation, for a profile's default */
    guint payload_bytes;  /* RTP payload at that ptime */
} EmodelCodec;

/* The codec a profile names, NULL if none is known by that name. */
const EmodelCodec *emodel_codec_lookup(const char *name);
/* The default codec (G.711 with packet loss concealment). */
const EmodelCodec *emodel_codec_default(void);
/* The names known, joined by ", " (for an error message). */
const char *emodel_codec_names(void);

/* G.107's intermediate terms, for tests and for people checking a figure. */
typedef struct {
    double ro, is, idte, idle, idd, ie_eff, r;
} EmodelTerms;

/* R for a codec: one-way mouth-to-ear delay in ms, packet loss in percent
 * (Ppl, 0-100) and the burst ratio BurstR (1 for random loss, above 1 when
 * losses come in bursts). terms may be NULL. */
double emodel_r(const EmodelCodec *codec, double one_way_delay_ms, double ppl, double burst_r,
                EmodelTerms *terms);

/* MOS (conversational quality, estimated) of a rating R on the codec's scale:
 * G.107 Annex B for narrowband, G.107.1 Annex A (R / 1.29) for wideband. */
double emodel_mos(const EmodelCodec *codec, double r);

/* G.107 Annex B: R (narrowband scale) to MOS, 1 to 4.5. */
double emodel_mos_from_r(double r);

/* G.107 §7.5: the effective equipment impairment under packet loss,
 * Ie,eff = Ie + (95 - Ie) Ppl / (Ppl / BurstR + Bpl). */
double emodel_ie_eff(double ie, double bpl, double ppl, double burst_r);

/* G.107's absolute delay impairment Idd for a mouth-to-ear delay Ta (ms), with
 * the default delay sensitivity (mT = 100 ms, sT = 1). */
double emodel_idd(double ta_ms);

/* The burst ratio of a loss pattern (G.107 §7.5): 1 / (p + q), p the chance a
 * packet is lost after one that arrived, q the chance one arrives after one that
 * was lost; got[i] says whether the i-th packet arrived. 1 when nothing or
 * everything was lost, and at least 1 (losses more scattered than random count
 * as random). */
double emodel_burst_ratio(const guint8 *got, gsize n);
