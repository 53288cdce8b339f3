/* commit-rate: how many durable SQLite commits this disk takes, with the
 * house settings (WAL, synchronous=FULL), to size group commit: single-row
 * commits on one file, the same on several files at once (one thread each,
 * as the services do), and the same rows in batches, each row in its own
 * savepoint inside one transaction (the shape group commit would have).
 * Prints one JSON object. Usage: commit-rate DIR [SECONDS] [FILES]. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

typedef struct job {
    char path[512];
    double seconds;
    int batch;          /* rows per transaction; 1 = one commit per row */
    int64_t rows, commits;
    bool failed;
} job;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool exec(sqlite3 *h, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "commit-rate: %s (in: %s)\n", msg ? msg : "error", sql);
        sqlite3_free(msg);
        return false;
    }
    return true;
}

/* Opens path fresh with the house pragmas and a table like a saga's row. */
static sqlite3 *open_db(const char *path)
{
    sqlite3 *h = NULL;
    char wal[600], shm[600];
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(shm, sizeof shm, "%s-shm", path);
    remove(path);
    remove(wal);
    remove(shm);
    if (sqlite3_open(path, &h) != SQLITE_OK ||
        !exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                 "CREATE TABLE t(id INTEGER PRIMARY KEY, status TEXT, amount INTEGER)")) {
        sqlite3_close(h);
        return NULL;
    }
    return h;
}

/* Inserts rows for j->seconds, j->batch per transaction, each in a savepoint
 * when batched (as group commit would run each request). */
static void *run_job(void *arg)
{
    job *j = arg;
    sqlite3 *h = open_db(j->path);
    sqlite3_stmt *ins = NULL;
    if (h == NULL ||
        sqlite3_prepare_v2(h, "INSERT INTO t(status, amount) VALUES('PENDING', ?)", -1, &ins, NULL) !=
            SQLITE_OK) {
        j->failed = true;
        goto out;
    }
    double end = now_s() + j->seconds;
    while (now_s() < end) {
        if (!exec(h, "BEGIN IMMEDIATE"))
            goto fail;
        for (int i = 0; i < j->batch; i++) {
            if (j->batch > 1 && !exec(h, "SAVEPOINT one"))
                goto fail;
            sqlite3_bind_int64(ins, 1, j->rows);
            if (sqlite3_step(ins) != SQLITE_DONE)
                goto fail;
            sqlite3_reset(ins);
            if (j->batch > 1 && !exec(h, "RELEASE one"))
                goto fail;
            j->rows++;
        }
        if (!exec(h, "COMMIT"))
            goto fail;
        j->commits++;
    }
    goto out;
fail:
    j->failed = true;
out:
    sqlite3_finalize(ins);
    sqlite3_close(h);
    return NULL;
}

/* Runs n jobs at once (one file each); returns rows/s and commits/s summed. */
static bool run_set(const char *dir, const char *tag, int n, int batch, double seconds,
                    double *rows_s, double *commits_s)
{
    job *jobs = calloc((size_t)n, sizeof *jobs);
    pthread_t *th = calloc((size_t)n, sizeof *th);
    bool ok = jobs != NULL && th != NULL;
    *rows_s = *commits_s = 0;
    for (int i = 0; ok && i < n; i++) {
        snprintf(jobs[i].path, sizeof jobs[i].path, "%s/%s-%d.db", dir, tag, i);
        jobs[i].seconds = seconds;
        jobs[i].batch = batch;
        ok = pthread_create(&th[i], NULL, run_job, &jobs[i]) == 0;
        if (!ok)
            n = i;
    }
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        ok &= !jobs[i].failed;
        *rows_s += (double)jobs[i].rows / seconds;
        *commits_s += (double)jobs[i].commits / seconds;
        char wal[600], shm[600];
        snprintf(wal, sizeof wal, "%s-wal", jobs[i].path);
        snprintf(shm, sizeof shm, "%s-shm", jobs[i].path);
        remove(jobs[i].path);
        remove(wal);
        remove(shm);
    }
    free(jobs);
    free(th);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: commit-rate DIR [SECONDS (3)] [FILES (5)]\n");
        return 2;
    }
    const char *dir = argv[1];
    double seconds = argc > 2 ? strtod(argv[2], NULL) : 3.0;
    long files = argc > 3 ? strtol(argv[3], NULL, 10) : 5;
    if (seconds <= 0 || seconds > 600 || files < 1 || files > 64) {
        fprintf(stderr, "commit-rate: SECONDS in (0, 600], FILES in 1..64\n");
        return 2;
    }
    double one_rows, one_commits, many_rows, many_commits, b16_rows, b16_commits, b64_rows,
        b64_commits;
    bool ok = run_set(dir, "one", 1, 1, seconds, &one_rows, &one_commits) &&
              run_set(dir, "many", (int)files, 1, seconds, &many_rows, &many_commits) &&
              run_set(dir, "b16", 1, 16, seconds, &b16_rows, &b16_commits) &&
              run_set(dir, "b64", 1, 64, seconds, &b64_rows, &b64_commits);
    if (!ok) {
        fprintf(stderr, "commit-rate: a run failed in %s: %s\n", dir, strerror(errno));
        return 1;
    }
    printf("{\"seconds\":%.1f,\"files\":%ld,"
           "\"one_file_commits_per_s\":%.0f,"
           "\"files_commits_per_s\":%.0f,"
           "\"batch16_rows_per_s\":%.0f,\"batch16_commits_per_s\":%.0f,"
           "\"batch64_rows_per_s\":%.0f,\"batch64_commits_per_s\":%.0f}\n",
           seconds, files, one_commits, many_commits, b16_rows, b16_commits, b64_rows, b64_commits);
    return 0;
}
