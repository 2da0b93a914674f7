/*
 * libwbxml baseline for the WBXML benchmark (docs/benchmarks.md, section "WBXML").
 *
 * Loads every NAME.xml / NAME.wbxml pair of the golden corpus (testdata/messages), then converts
 * each message N times in-process with libwbxml's converter API (create / run / destroy per
 * message, as an application converting one HTTP body would):
 *   xml2wbxml: wbxml_conv_xml2wbxml_run on NAME.xml (defaults: WBXML 1.3, string table on)
 *   wbxml2xml: wbxml_conv_wbxml2xml_run on NAME.wbxml (compact XML output)
 * and prints messages/s for each direction, one REPS-long run per line pair, so the caller can
 * take medians:  xml2wbxml_msgs_per_s=...  wbxml2xml_msgs_per_s=...
 *
 * Usage: baseline CORPUS_DIR [ITERATIONS] [REPS] [xml2wbxml|wbxml2xml]
 * (the last argument runs one direction only, for instruction counts under callgrind).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wbxml/wbxml.h>
#include <wbxml/wbxml_conv.h>

#define MAX_MSGS 256

struct msg { unsigned char *data; size_t len; };

static int load(const char *path, struct msg *m) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    m->data = malloc((size_t)n + 1);
    if (fread(m->data, 1, (size_t)n, f) != (size_t)n) { fclose(f); return -1; }
    m->data[n] = 0;
    m->len = (size_t)n;
    fclose(f);
    return 0;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS] [REPS]\n", argv[0]); return 2; }
    const char *dir = argv[1];
    long iters = argc > 2 ? atol(argv[2]) : 2000;
    int reps = argc > 3 ? atoi(argv[3]) : 1;
    const char *only = argc > 4 ? argv[4] : "";
    int run_a = !*only || strcmp(only, "xml2wbxml") == 0;
    int run_b = !*only || strcmp(only, "wbxml2xml") == 0;
    struct msg xml[MAX_MSGS], wb[MAX_MSGS];
    char *names[MAX_MSGS];
    int n = 0;
    DIR *d = opendir(dir);
    if (!d) { perror(dir); return 1; }
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_MSGS) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".xml") == 0) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp);
    for (int i = 0; i < n; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (load(p, &xml[i])) { perror(p); return 1; }
        p[strlen(p) - 4] = 0;
        strcat(p, ".wbxml");
        if (load(p, &wb[i])) { perror(p); return 1; }
    }
    fprintf(stderr, "libwbxml baseline: %d messages, %ld iterations, %d reps\n", n, iters, reps);
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        size_t sink = 0;
        for (long it = 0; run_a && it < iters; it++) {
            for (int i = 0; i < n; i++) {
                WBXMLConvXML2WBXML *conv = NULL;
                WB_UTINY *out = NULL;
                WB_ULONG out_len = 0;
                if (wbxml_conv_xml2wbxml_create(&conv) != WBXML_OK) return 1;
                WBXMLError err = wbxml_conv_xml2wbxml_run(conv, xml[i].data, (WB_ULONG)xml[i].len, &out, &out_len);
                wbxml_conv_xml2wbxml_destroy(conv);
                if (err != WBXML_OK) { fprintf(stderr, "%s: %s\n", names[i], wbxml_errors_string(err)); return 1; }
                sink += out_len;
                free(out);
            }
        }
        double t1 = now();
        for (long it = 0; run_b && it < iters; it++) {
            for (int i = 0; i < n; i++) {
                WBXMLConvWBXML2XML *conv = NULL;
                WB_UTINY *out = NULL;
                WB_ULONG out_len = 0;
                if (wbxml_conv_wbxml2xml_create(&conv) != WBXML_OK) return 1;
                wbxml_conv_wbxml2xml_set_gen_type(conv, WBXML_GEN_XML_COMPACT);
                WBXMLError err = wbxml_conv_wbxml2xml_run(conv, wb[i].data, (WB_ULONG)wb[i].len, &out, &out_len);
                wbxml_conv_wbxml2xml_destroy(conv);
                if (err != WBXML_OK) { fprintf(stderr, "%s: %s\n", names[i], wbxml_errors_string(err)); return 1; }
                sink += out_len;
                free(out);
            }
        }
        double t2 = now();
        double msgs = (double)iters * n;
        if (run_a) printf("xml2wbxml_msgs_per_s=%.0f\n", msgs / (t1 - t0));
        if (run_b) printf("wbxml2xml_msgs_per_s=%.0f\n", msgs / (t2 - t1));
        fflush(stdout);
        if (sink == 0) return 1;
    }
    return 0;
}
