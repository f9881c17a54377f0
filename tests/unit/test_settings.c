/* test_settings.c - the settings table (lib/coll/settings.c, SPEC.md 3.1): every
   setting has a default inside its range, values parse only as plain decimal
   numbers within the range (no wrap past 2^64), a manifest value out of range
   is VF_ECORRUPT at use, and build options out of range are refused. */
#include <stdint.h>
#include <string.h>

#include "lib_internal.h"
#include "unit.h"

int main(void)
{
    size_t n;
    const vs_setting_def *t = vs_settings_table(&n);
    CHECK(n == 15);
    for (size_t i = 0; i < n; i++) {
        CHECK(vs_setting_find(t[i].key) == &t[i]);
        if (t[i].type == VS_SETTING_UINT)
            CHECK_MSG(t[i].min <= t[i].def && t[i].def <= t[i].max, "%s", t[i].key);
        CHECK_MSG(t[i].help && t[i].help[0], "%s", t[i].key);
    }
    CHECK(vs_setting_find("bogus") == NULL);

    /* parse: digits only, within the range, no wrap */
    const vs_setting_def *m = vs_setting_find("hnsw-m"), *seed = vs_setting_find("index-seed");
    uint64_t v = 7;
    vf_error err;
    CHECK(vs_setting_parse(m, "2", &v, &err) == 0 && v == 2);
    CHECK(vs_setting_parse(m, "128", &v, &err) == 0 && v == 128);
    CHECK(vs_setting_parse(m, "1", &v, &err) == VF_EARG && strstr(err.msg, "(2 to 128)"));
    CHECK(vs_setting_parse(m, "129", &v, &err) == VF_EARG);
    CHECK(vs_setting_parse(m, "4294967312", &v, &err) == VF_EARG); /* 2^32 + 16 */
    CHECK(vs_setting_parse(m, "-16", &v, &err) == VF_EARG && strstr(err.msg, "not a number"));
    CHECK(vs_setting_parse(m, " 16", &v, &err) == VF_EARG);
    CHECK(vs_setting_parse(m, "16 ", &v, &err) == VF_EARG);
    CHECK(vs_setting_parse(m, "", &v, &err) == VF_EARG);
    CHECK(vs_setting_parse(seed, "18446744073709551615", &v, &err) == 0 && v == UINT64_MAX);
    CHECK(vs_setting_parse(seed, "18446744073709551616", &v, &err) == VF_EARG && strstr(err.msg, "out of range"));
    CHECK(vs_setting_parse(seed, "36893488147419103233", &v, &err) == VF_EARG); /* 2^65 + 1 wraps to 1 */
    CHECK(vs_setting_parse(vs_setting_find("index"), "hnsw", &v, &err) == 0 && v == VS_INDEX_HNSW);
    CHECK(vs_setting_parse(vs_setting_find("index"), "btree", &v, &err) == VF_EARG);

    /* the getter: defaults, valid values, and damage */
    vf_manifest man;
    memset(&man, 0, sizeof man);
    man.generation = 7;
    man.dim = 8;
    CHECK(vs_setting_get(&man, "grace", &v, &err) == 0 && v == VS_GRACE_DEFAULT);
    CHECK(vs_setting_get(&man, "index", &v, &err) == 0 && v == VS_INDEX_AUTO);
    CHECK(vs_settings_init(&man, NULL) == 0 && man.nsettings == n);
    CHECK(vs_setting_get(&man, "split-rows", &v, &err) == 0 && v == VS_SPLIT_ROWS_DEFAULT);
    CHECK(vf_manifest_set(&man, "grace", "9223372036854775808", NULL) == 0);
    CHECK(vs_setting_get(&man, "grace", &v, &err) == VF_ECORRUPT);
    CHECK_MSG(!strcmp(err.msg, "'manifest-00000007': setting 'grace': 9223372036854775808 is out of range "
                               "(0 to 100000000)"), "%s", err.msg);
    CHECK(vs_setting_get(&man, "no-such-setting", &v, &err) == VF_EARG);

    /* build options are held to the same ranges as the settings they override */
    vs_build_params bp;
    vs_seal_opts o;
    memset(&o, 0, sizeof o);
    CHECK(vs_build_params_of(&man, &o, &bp, &err) == 0 && bp.M == VS_HNSW_M_DEFAULT && bp.seed == 1);
    o.M = 1;
    CHECK(vs_build_params_of(&man, &o, &bp, &err) == VF_EARG);
    o.M = 0;
    o.pq_m = 3;
    CHECK(vs_build_params_of(&man, &o, &bp, &err) == VF_EARG); /* does not divide 8 */
    o.pq_m = 0;
    CHECK(vf_manifest_set(&man, "hnsw-m", "1", NULL) == 0);
    CHECK(vs_build_params_of(&man, &o, &bp, &err) == VF_ECORRUPT);
    o.M = 8; /* an explicit option does not read the damaged setting */
    CHECK(vs_build_params_of(&man, &o, &bp, &err) == 0 && bp.M == 8);
    vf_manifest_release(&man);
    UNIT_DONE();
}
