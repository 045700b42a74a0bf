/* The one reader of outside JSON (common/jsonin.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "iceprobe/jsonin.h"

static const JsonInLimits small = {"the body", 256, 4};

static void expect_parse_error(const char *text, gint code, const char *part)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(JsonObject) o = jsonin_parse_object(text, strlen(text), &small, &e);
    assert_null(o);
    assert_non_null(e);
    if (e->domain != JSONIN_ERROR || e->code != code || !strstr(e->message, part))
        fail_msg("'%s': want code %d naming '%s', got code %d: %s", text, code, part, e->code,
                 e->message);
}

static JsonObject *parse(const char *text)
{
    g_autoptr(GError) e = NULL;
    JsonObject *o = jsonin_parse_object(text, strlen(text), &small, &e);
    if (!o)
        fail_msg("'%s': %s", text, e->message);
    return o;
}

static void test_a_document_over_its_bytes_or_depth_is_refused_before_parsing(void **state)
{
    GString *big = g_string_new("{\"a\":\"");
    while (big->len < 300)
        g_string_append_c(big, 'x');
    g_string_append(big, "\"}");
    expect_parse_error(big->str, JSONIN_ERROR_SIZE, "the body is over 256 bytes");
    g_string_free(big, TRUE);
    expect_parse_error("{\"a\":[[[[[1]]]]]}", JSONIN_ERROR_SIZE, "the body nests deeper than 4");
    /* Brackets inside a string are text, not depth. */
    g_autoptr(JsonObject) o = parse("{\"a\":\"[[[[[[[[\"}");
    assert_non_null(o);
}

/* json-glib 1.6 takes comments and single-quoted strings; a count of brackets
 * that knew only double quotes let /\*"*\/[[[...]]] through at any depth. */
static void test_comments_and_single_quotes_cannot_hide_depth(void **state)
{
    assert_int_equal(jsonin_depth("/*\"*/[[[[[[1]]]]]]", 17), G_MAXUINT);
    assert_int_equal(jsonin_depth("['\"',[[[[1]]]],'\"']", 20), G_MAXUINT);
    expect_parse_error("{\"a\":1}//", JSONIN_ERROR_SYNTAX, "a comment or a single-quoted string");
    expect_parse_error("{'a':1}", JSONIN_ERROR_SYNTAX, "not JSON");
    /* '/' and '\'' inside a string are fine. */
    assert_int_equal(jsonin_depth("{\"u\":\"http://x/'y'\"}", 20), 1);
}

static void test_what_is_not_one_object_is_named(void **state)
{
    expect_parse_error("", JSONIN_ERROR_SYNTAX, "the body is not JSON");
    expect_parse_error("{", JSONIN_ERROR_SYNTAX, "the body is not JSON");
    expect_parse_error("[1]", JSONIN_ERROR_FIELD, "the body is not a JSON object");
}

static void test_members_are_read_with_their_path_in_errors(void **state)
{
    g_autoptr(JsonObject) o = parse("{\"s\":\"abc\",\"n\":5,\"d\":0.5,\"b\":true,\"o\":{\"x\":-1},"
                                    "\"a\":[\"p\",\"q\"],\"z\":null}");
    g_autofree char *s = NULL;
    gint64 n = 0;
    double d = 0;
    gboolean b = FALSE;
    JsonObject *sub = NULL;
    g_auto(GStrv) a = NULL;
    assert_true(jsonin_string(o, "", "s", TRUE, 3, &s, NULL));
    assert_string_equal(s, "abc");
    assert_true(jsonin_int(o, "", "n", TRUE, 1, 5, &n, NULL));
    assert_int_equal(n, 5);
    assert_true(jsonin_double(o, "", "n", TRUE, 0, 10, &d, NULL)); /* a whole number is a number */
    assert_true(jsonin_double(o, "", "d", TRUE, 0, 1, &d, NULL));
    assert_true(d == 0.5);
    assert_true(jsonin_bool(o, "", "b", TRUE, &b, NULL) && b);
    assert_true(jsonin_object(o, "", "o", TRUE, &sub, NULL) && sub);
    assert_true(jsonin_strv(o, "", "a", TRUE, 2, 1, &a, NULL));
    assert_int_equal(g_strv_length(a), 2);
    /* Absent and null are absent: fine unless required. */
    g_autofree char *none = NULL;
    assert_true(jsonin_string(o, "", "z", FALSE, 8, &none, NULL));
    assert_null(none);

    struct {
        gboolean ok;
        const char *want;
    } cases[6];
    GError *e[6] = {NULL};
    gint64 x = 0;
    guint64 c = 0;
    g_autofree char *t = NULL;
    JsonArray *arr = NULL;
    cases[0].ok = jsonin_string(o, "", "z", TRUE, 8, &t, &e[0]);
    cases[0].want = "z: missing";
    cases[1].ok = jsonin_string(o, "", "s", TRUE, 2, &t, &e[1]);
    cases[1].want = "s: longer than 2 bytes";
    cases[2].ok = jsonin_int(o, "", "n", TRUE, 6, 9, &x, &e[2]);
    cases[2].want = "n: not a whole number from 6 to 9";
    cases[3].ok = jsonin_count(sub, "o", "x", TRUE, &c, &e[3]);
    cases[3].want = "o.x: not a whole number >= 0";
    cases[4].ok = jsonin_array(o, "", "a", TRUE, 1, &arr, &e[4]);
    cases[4].want = "a: more than 1 items";
    cases[5].ok = jsonin_bool(o, "", "s", TRUE, &b, &e[5]);
    cases[5].want = "s: not true or false";
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        assert_false(cases[i].ok);
        /* A member's cap is a wrong member (400), not a document over its cap (413). */
        assert_true(g_error_matches(e[i], JSONIN_ERROR, JSONIN_ERROR_FIELD));
        assert_string_equal(e[i]->message, cases[i].want);
        g_error_free(e[i]);
    }
    assert_int_equal(x, 0); /* untouched on failure */
}

static void test_an_unknown_member_and_a_wrong_item_are_named(void **state)
{
    static const char *const allowed[] = {"a", NULL};
    g_autoptr(JsonObject) o = parse("{\"a\":[\"p\",7],\"b\":1}");
    g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;
    assert_false(jsonin_only(o, "order", allowed, &e1));
    assert_string_equal(e1->message, "order.b: unknown member");
    g_auto(GStrv) a = NULL;
    assert_false(jsonin_strv(o, "", "a", TRUE, 4, 8, &a, &e2));
    assert_string_equal(e2->message, "a[1]: not a string");
    assert_null(a);
    JsonArray *arr = NULL;
    assert_true(jsonin_array(o, "", "a", TRUE, 4, &arr, NULL));
    assert_null(jsonin_item_object(arr, "a", 0, &e3));
    assert_string_equal(e3->message, "a[0]: not an object");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_document_over_its_bytes_or_depth_is_refused_before_parsing),
        cmocka_unit_test(test_comments_and_single_quotes_cannot_hide_depth),
        cmocka_unit_test(test_what_is_not_one_object_is_named),
        cmocka_unit_test(test_members_are_read_with_their_path_in_errors),
        cmocka_unit_test(test_an_unknown_member_and_a_wrong_item_are_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
