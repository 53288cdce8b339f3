/* The one test runner: every unit and integration suite, one summary line. */
#include <stdlib.h>

#include <check.h>
#include <curl/curl.h>

#include "log.h"

/* Every suite's prototype comes from the generated suite_decls.h. */
int main(void)
{
    /* Before any fork: the children inherit an initialised libcurl. */
    curl_global_init(CURL_GLOBAL_ALL);
    /* In-process servers and stores log at warn; the binaries the harness
     * starts log everything into their own files. */
    setenv("SHOP_LOG_LEVEL", "warn", 0);
    log_init("test");
    SRunner *sr = srunner_create(NULL);
#define SUITE(name) srunner_add_suite(sr, name##_suite());
#include "suites.inc"
#undef SUITE
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
