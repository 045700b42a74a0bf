/* The E-model (ITU-T G.107, G.107.1): see iceprobe/emodel.h. The equation
 * numbers below are G.107 (06/2015) §7. */
#include "iceprobe/emodel.h"

#include <math.h>

/* G.113 provisional planning values. Narrowband: Appendix I (Ie, and Bpl for
 * random loss). Wideband: Appendix IV (AMR-WB, Ie,WB in Table IV.1, Bpl for
 * random loss in Table IV.4). */
static const EmodelCodec codecs[] = {
    {"g711", "G.711 (64 kbit/s) with packet loss concealment (G.711 Appendix I)", FALSE, 0, 25.1,
     20, 160},
    {"g711-noplc", "G.711 (64 kbit/s) without packet loss concealment", FALSE, 0, 4.3, 20, 160},
    {"g729a", "G.729A with voice activity detection (8 kbit/s)", FALSE, 11, 19.0, 20, 32},
    {"amr-wb", "AMR-WB (G.722.2) at 12.65 kbit/s, wideband", TRUE, 13, 4.3, 20, 33},
};

const EmodelCodec *emodel_codec_lookup(const char *name)
{
    for (gsize i = 0; name && i < G_N_ELEMENTS(codecs); i++) {
        if (g_ascii_strcasecmp(name, codecs[i].name) == 0)
            return &codecs[i];
    }
    return NULL;
}

const EmodelCodec *emodel_codec_default(void)
{
    return &codecs[0];
}

const char *emodel_codec_names(void)
{
    return "g711, g711-noplc, g729a, amr-wb";
}

/* G.107 Table 3 defaults. */
#define SLR   8.0
#define RLR   2.0
#define STMR  15.0
#define LSTR  18.0
#define DS    3.0
#define TELR  65.0
#define WEPL  110.0
#define QDU   1.0
#define NC    (-70.0)
#define NFOR  (-64.0)
#define PS    35.0
#define PR    35.0
#define A_ADV 0.0
#define MT    100.0
#define ST    1.0
#define RO_WB 129.0

static double db_sum(double a, double b, double c, double d)
{
    return 10 * log10(pow(10, a / 10) + pow(10, b / 10) + pow(10, c / 10) + pow(10, d / 10));
}

/* (1 + x^k)^(1/k): the smooth maximum G.107 uses throughout. */
static double smooth(double x, double k)
{
    return pow(1 + pow(x, k), 1 / k);
}

double emodel_idd(double ta)
{
    if (ta <= MT)
        return 0;
    double x = log10(ta / MT) / log10(2); /* (7-28) */
    double k = 6 * ST;
    return 25 * (smooth(x, k) - 3 * smooth(x / 3, k) + 2);
}

double emodel_ie_eff(double ie, double bpl, double ppl, double burst_r)
{
    ppl = CLAMP(ppl, 0, 100);
    burst_r = MAX(burst_r, 1e-6);
    if (ppl <= 0)
        return ie;
    return ie + (95 - ie) * ppl / (ppl / burst_r + bpl); /* (7-29) */
}

double emodel_r(const EmodelCodec *codec, double delay, double ppl, double burst_r,
                EmodelTerms *terms)
{
    if (!codec)
        codec = emodel_codec_default();
    EmodelTerms t = {0};
    double ta = MAX(delay, 0), tt = ta, tr = 2 * ta;
    t.idd = emodel_idd(ta);
    t.ie_eff = emodel_ie_eff(codec->ie, codec->bpl, ppl, burst_r);
    if (codec->wideband) {
        t.ro = RO_WB;
        t.r = RO_WB - t.idd - t.ie_eff + A_ADV;
    } else {
        /* Basic signal-to-noise ratio (7-2 to 7-8). */
        double olr = SLR + RLR;
        double nfo = NFOR + RLR;
        double pre = PR + 10 * log10(1 + pow(10, (10 - LSTR) / 10));
        double nor = RLR - 121 + pre + 0.008 * (pre - 35) * (pre - 35);
        double nos = PS - SLR - DS - 100 + 0.004 * pow(PS - olr - DS - 14, 2);
        double no = db_sum(NC, nos, nor, nfo);
        t.ro = 15 - 1.5 * (SLR + no);
        /* Simultaneous impairments (7-9 to 7-17). */
        double xolr = olr + 0.2 * (64 + no - RLR);
        double iolr = 20 * (smooth(xolr / 8, 8) - xolr / 8);
        double stmro = -10 * log10(pow(10, -STMR / 10) + exp(-tt / 4) * pow(10, -TELR / 10));
        double ist = 12 * smooth((stmro - 13) / 6, 8) - 28 * smooth((stmro + 1) / 19.4, 35) -
                     13 * smooth((stmro - 3) / 33, 13) + 29;
        double q = 37 - 15 * log10(QDU);
        double g = 1.07 + 0.258 * q + 0.0602 * q * q;
        double y = (t.ro - 100) / 15 + 46 / 8.4 - g / 9;
        double z = 46.0 / 30 - g / 40;
        double iq = 15 * log10(1 + pow(10, y) + pow(10, z));
        t.is = iolr + ist + iq;
        /* Talker echo (7-19 to 7-22); STMR 15 dB needs neither of its corrections. */
        double roe = -1.5 * (no - RLR);
        double terv = TELR - 40 * log10((1 + tt / 10) / (1 + tt / 150)) + 6 * exp(-0.3 * tt * tt);
        double re = 80 + 2.5 * (terv - 14);
        t.idte = ((roe - re) / 2 + sqrt((roe - re) * (roe - re) / 4 + 100) - 1) * (1 - exp(-tt));
        /* Listener echo (7-26, 7-27). */
        double rle = 10.5 * (WEPL + 7) * pow(tr + 1, -0.25);
        t.idle = (t.ro - rle) / 2 + sqrt((t.ro - rle) * (t.ro - rle) / 4 + 169);
        t.r = t.ro - t.is - (t.idte + t.idle + t.idd) - t.ie_eff + A_ADV;
    }
    if (terms)
        *terms = t;
    return t.r;
}

double emodel_mos_from_r(double r)
{
    if (r <= 0)
        return 1.0;
    if (r >= 100)
        return 4.5;
    return 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r);
}

double emodel_mos(const EmodelCodec *codec, double r)
{
    return emodel_mos_from_r(codec && codec->wideband ? r / 1.29 : r);
}

double emodel_burst_ratio(const guint8 *got, gsize n)
{
    gsize received = 0, lost = 0, lost_after_received = 0, received_after_lost = 0;
    for (gsize i = 0; i < n; i++) {
        if (i + 1 < n) {
            if (got[i] && !got[i + 1])
                lost_after_received++;
            else if (!got[i] && got[i + 1])
                received_after_lost++;
        }
        if (i + 1 < n)
            got[i] ? received++ : lost++;
    }
    if (!received || !lost)
        return 1.0;
    double p = (double)lost_after_received / (double)received;
    double q = (double)received_after_lost / (double)lost;
    if (p + q <= 0)
        return 1.0;
    return MAX(1.0, 1.0 / (p + q));
}
