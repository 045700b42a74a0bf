#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "iceprobe/turncred.h"

static void test_rest_credentials_match_an_independent_hmac(void **state)
{
    /* python3: base64(hmac.new(b'north', b'1700000000:iceprobe', sha1).digest()) */
    TurnCredentials c;
    assert_true(turncred_make("north", "iceprobe", 1699996400, 3600, &c));
    assert_string_equal(c.username, "1700000000:iceprobe");
    assert_string_equal(c.password, "2jS9bQTD4hIU4zp7zVdvwFhqCps=");
    turncred_clear(&c);
    assert_null(c.username);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rest_credentials_match_an_independent_hmac),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
