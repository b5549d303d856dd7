/* tests/tools/nats_dump.c: ll_nats_dump, the integration tests' reader of a
 * NATS JetStream stream. The node relays its event log to JetStream; Debian
 * has no Python NATS client, so tests/integration/natsutil.py runs this tool
 * (linked with the NATS C client, libnats) and parses what it prints.
 *
 *   ll_nats_dump --nats URL[,URL...] --stream NAME [--from-seq N] [--max N]
 *                [--timeout-s S]                          dump (the default)
 *   ll_nats_dump --nats URLS --stream NAME --info         config and state
 *   ll_nats_dump --nats URLS --create-stream NAME --subjects 'a.>[,b.*]'
 *                [--replicas N] [--storage file|memory]   tooling tests only
 *   ll_nats_dump --nats URLS --publish SUBJECT [--msg-id ID] --data TEXT
 *   ll_nats_dump --nats URLS --stream NAME --delete-seq N
 *
 * A dump prints one JSON line per message in stream order,
 *   {"stream_seq":n,"subject":s,"msg_id":s|null,"headers":{k:v|[v..]},"data":s}
 * (data that is not UTF-8 prints as "data":null,"data_base64":s), then
 *   {"end":true,"messages":n,"first_seq":n,"last_seq":n,"printed":n,"truncated":b}
 * where messages/first_seq/last_seq are the stream info read before the
 * first message: messages published during the dump are not printed. Each
 * message is read by sequence (js_GetMsg, from the stream leader), so the
 * order is the stream's; a deleted sequence is skipped.
 *
 * Bounds: --max messages (default 1,000,000) and --timeout-s (default 30),
 * which limits the whole run, connecting included. A request that fails
 * while a cluster heals (timeout, no responders, leader election) is retried
 * until that deadline; other failures end the run at once.
 * Exit: 0 done, 1 NATS error, 2 usage, 3 stream not found, 4 out of time. */
#include <getopt.h>
#include <jansson.h>
#include <nats/nats.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define URLS_MAX 16
#define SUBJECTS_MAX 16
#define MAX_MSGS_DEFAULT 1000000
#define TIMEOUT_S_DEFAULT 30.0
#define REQUEST_WAIT_MAX_MS 2000 /* one request: a dead leader costs a retry, not the run */
#define RETRY_PAUSE_MS 100
#define MSG_ID_HEADER "Nats-Msg-Id" /* JetStream's de-duplication header */

enum exit_code { X_OK = 0, X_NATS = 1, X_USAGE = 2, X_NO_STREAM = 3, X_TIMEOUT = 4 };
enum mode { M_DUMP, M_INFO, M_CREATE, M_PUBLISH, M_DELETE };

struct args {
    enum mode mode;
    int n_modes;          /* more than one mode flag is a usage error */
    const char *urls_arg; /* as given, for messages */
    char *urls_buf;
    const char *urls[URLS_MAX];
    int n_urls;
    const char *stream;
    uint64_t from_seq;
    uint64_t max;
    double timeout_s;
    char *subjects_buf;
    const char *subjects[SUBJECTS_MAX];
    int n_subjects;
    int64_t replicas;
    jsStorageType storage;
    const char *subject;
    const char *msg_id;
    const char *data;
    uint64_t delete_seq;
};

/* Set once in main before any request; read by every retry loop. */
static int64_t deadline_ms;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t remaining_ms(void)
{
    return deadline_ms - now_ms();
}

/* How long one request or connect attempt may wait: at most until the
 * deadline, and never so long that one lost request uses up the run. */
static int64_t wait_ms(void)
{
    int64_t left = remaining_ms();
    return left < 1 ? 1 : left < REQUEST_WAIT_MAX_MS ? left : REQUEST_WAIT_MAX_MS;
}

static jsOptions *req_opts(jsOptions *o)
{
    jsOptions_Init(o);
    o->Wait = wait_ms();
    return o;
}

/* The failures a NATS cluster recovers from by itself: a server restarting,
 * a stream or meta leader being elected, peers not yet known. */
static bool transient(natsStatus s, jsErrCode jerr)
{
    switch (s) {
    case NATS_TIMEOUT:
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
    case NATS_NO_SERVER:
        return true;
    default:
        break;
    }
    switch (jerr) {
    case JSClusterIncompleteErr:
    case JSClusterNoPeersErr:
    case JSClusterNotAssignedErr:
    case JSClusterNotAvailErr:
    case JSClusterNotLeaderErr:
    case JSInsufficientResourcesErr:
    case JSRaftGeneralErr:
        return true;
    default:
        return false;
    }
}

/* True (after a pause) when a failed request should be sent again. */
static bool retry(natsStatus s, jsErrCode jerr)
{
    if (!transient(s, jerr) || remaining_ms() <= RETRY_PAUSE_MS)
        return false;
    nats_Sleep(RETRY_PAUSE_MS);
    return true;
}

/* Reports a failed request on stderr; returns the exit code it means. */
static int fail(const char *what, natsStatus s, jsErrCode jerr)
{
    const char *detail = nats_GetLastError(NULL);
    fprintf(stderr, "ll_nats_dump: %s: %s", what, natsStatus_GetText(s));
    if (jerr)
        fprintf(stderr, " (JetStream error %d)", (int)jerr);
    if (detail && *detail)
        fprintf(stderr, ": %s", detail);
    fputc('\n', stderr);
    if (jerr == JSStreamNotFoundErr)
        return X_NO_STREAM;
    return transient(s, jerr) ? X_TIMEOUT : X_NATS;
}

/* Prints j as one compact line and releases it (steals the reference). */
static int print_line(json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    int rc = X_OK;

    if (!text || puts(text) == EOF) {
        fprintf(stderr, "ll_nats_dump: cannot encode or write a line\n");
        rc = X_NATS;
    }
    free(text);
    json_decref(j);
    return rc;
}

static json_t *u64_json(uint64_t v)
{
    return json_integer((json_int_t)v); /* sequences and counts stay below 2^63 */
}

static const char *storage_name(jsStorageType t)
{
    return t == js_MemoryStorage ? "memory" : "file";
}

static const char *retention_name(jsRetentionPolicy p)
{
    return p == js_InterestPolicy ? "interest" : p == js_WorkQueuePolicy ? "workqueue" : "limits";
}

/* The --info line: what the tests check of the stream the node creates. */
static json_t *info_json(const jsStreamInfo *si)
{
    const jsStreamConfig *c = si->Config;
    json_t *subjects = json_array();
    json_t *cluster = json_null();

    for (int i = 0; i < c->SubjectsLen; i++)
        json_array_append_new(subjects, json_string(c->Subjects[i]));
    if (si->Cluster) {
        json_t *peers = json_array();
        for (int i = 0; i < si->Cluster->ReplicasLen; i++) {
            const jsPeerInfo *p = si->Cluster->Replicas[i];
            json_array_append_new(peers, json_pack("{s:s?, s:b, s:b, s:I}", "name", p->Name,
                                                   "current", p->Current, "offline", p->Offline,
                                                   "lag", (json_int_t)p->Lag));
        }
        /* "s:o" steals peers */
        cluster = json_pack("{s:s?, s:s?, s:o}", "name", si->Cluster->Name, "leader",
                            si->Cluster->Leader, "replicas", peers);
    }
    /* "o" steals subjects and cluster; the state's objects are made inline */
    return json_pack(
        "{s:s, s:{s:o, s:s, s:I, s:s, s:I, s:I, s:I, s:I}, s:{s:o, s:o, s:o, s:o, s:o, s:I}, s:o}",
        "name", c->Name, "config", "subjects", subjects, "storage", storage_name(c->Storage),
        "replicas", (json_int_t)c->Replicas, "retention", retention_name(c->Retention), "max_msgs",
        (json_int_t)c->MaxMsgs, "max_bytes", (json_int_t)c->MaxBytes, "max_age_ns",
        (json_int_t)c->MaxAge, "duplicates_ns", (json_int_t)c->Duplicates, "state", "messages",
        u64_json(si->State.Msgs), "bytes", u64_json(si->State.Bytes), "first_seq",
        u64_json(si->State.FirstSeq), "last_seq", u64_json(si->State.LastSeq), "num_deleted",
        u64_json(si->State.NumDeleted), "consumers", (json_int_t)si->State.Consumers, "cluster",
        cluster);
}

static json_t *headers_json(natsMsg *msg)
{
    json_t *out = json_object();
    const char **keys = NULL;
    int n_keys = 0;

    if (natsMsgHeader_Keys(msg, &keys, &n_keys) != NATS_OK)
        return out; /* NATS_NOT_FOUND: no header at all */
    for (int i = 0; i < n_keys; i++) {
        const char **values = NULL;
        int n_values = 0;
        json_t *v = NULL;

        if (natsMsgHeader_Values(msg, keys[i], &values, &n_values) != NATS_OK)
            continue;
        if (n_values == 1) {
            v = json_string(values[0]);
        } else {
            v = json_array();
            for (int k = 0; k < n_values; k++)
                json_array_append_new(v, json_string(values[k]));
        }
        /* json_string is NULL for a value that is not UTF-8; set_new steals v */
        json_object_set_new(out, keys[i], v ? v : json_null());
        free((void *)values);
    }
    free((void *)keys);
    return out;
}

/* One dump line. Data that is not UTF-8 (never an envelope) is shown in
 * base64, so that the test sees it instead of the tool failing. */
static json_t *msg_json(uint64_t seq, natsMsg *msg)
{
    const char *id = NULL;
    const char *data = natsMsg_GetData(msg);
    int len = natsMsg_GetDataLength(msg);
    json_t *j, *text;

    if (natsMsgHeader_Get(msg, MSG_ID_HEADER, &id) != NATS_OK)
        id = NULL;
    /* "o?" puts null for a msg id that is not UTF-8; "o" steals */
    j = json_pack("{s:I, s:s, s:o?, s:o}", "stream_seq", (json_int_t)seq, "subject",
                  natsMsg_GetSubject(msg), "msg_id", id ? json_string(id) : json_null(), "headers",
                  headers_json(msg));
    if (!j)
        return NULL;
    text = json_stringn(data ? data : "", (size_t)len); /* NULL when not UTF-8 */
    if (text) {
        json_object_set_new(j, "data", text);
    } else {
        unsigned char *b64 = malloc(4 * ((size_t)len / 3 + 1) + 1);
        if (!b64) {
            json_decref(j);
            return NULL;
        }
        EVP_EncodeBlock(b64, (const unsigned char *)data, len);
        json_object_set_new(j, "data", json_null());
        json_object_set_new(j, "data_base64", json_string((const char *)b64));
        free(b64);
    }
    return j;
}

static int stream_info(jsCtx *js, const char *stream, jsStreamInfo **si)
{
    char what[256];
    jsOptions o;
    jsErrCode jerr;
    natsStatus s;

    do {
        jerr = 0;
        s = js_GetStreamInfo(si, js, stream, req_opts(&o), &jerr);
    } while (s != NATS_OK && retry(s, jerr));
    if (s == NATS_OK)
        return X_OK;
    snprintf(what, sizeof(what), "stream %.200s", stream);
    return fail(what, s, jerr);
}

static int dump(jsCtx *js, const struct args *a)
{
    jsStreamInfo *si = NULL;
    uint64_t seq, last, printed = 0;
    bool truncated = false;
    int rc;

    if ((rc = stream_info(js, a->stream, &si)) != X_OK)
        return rc;
    last = si->State.LastSeq;
    seq = si->State.FirstSeq > a->from_seq ? si->State.FirstSeq : a->from_seq;
    if (seq == 0)
        seq = 1; /* a stream that never had a message reports first_seq 0 */
    for (; seq <= last && rc == X_OK; seq++) {
        natsMsg *msg = NULL;
        jsOptions o;
        jsErrCode jerr;
        natsStatus s;

        if (printed == a->max) {
            truncated = true;
            break;
        }
        do {
            jerr = 0;
            s = js_GetMsg(&msg, js, a->stream, seq, req_opts(&o), &jerr);
        } while (s != NATS_OK && retry(s, jerr));
        if (s == NATS_NOT_FOUND && jerr == JSNoMessageFoundErr)
            continue; /* deleted, or aged out since the stream info */
        if (s != NATS_OK) {
            char what[64];
            snprintf(what, sizeof(what), "message %llu", (unsigned long long)seq);
            rc = fail(what, s, jerr);
            break;
        }
        rc = print_line(msg_json(seq, msg));
        natsMsg_Destroy(msg);
        printed++;
    }
    if (rc == X_OK)
        rc = print_line(json_pack("{s:b, s:o, s:o, s:o, s:o, s:b}", "end", 1, "messages",
                                  u64_json(si->State.Msgs), "first_seq",
                                  u64_json(si->State.FirstSeq), "last_seq", u64_json(last),
                                  "printed", u64_json(printed), "truncated", truncated));
    jsStreamInfo_Destroy(si);
    return rc;
}

static int info(jsCtx *js, const struct args *a)
{
    jsStreamInfo *si = NULL;
    int rc = stream_info(js, a->stream, &si);

    if (rc == X_OK)
        rc = print_line(info_json(si));
    jsStreamInfo_Destroy(si);
    return rc;
}

/* Creates the stream (JetStream answers OK when it exists with the same
 * config); prints its --info line. */
static int create(jsCtx *js, struct args *a)
{
    jsStreamConfig cfg;
    jsStreamInfo *si = NULL;
    jsOptions o;
    jsErrCode jerr;
    natsStatus s;
    int rc;

    jsStreamConfig_Init(&cfg);
    cfg.Name = a->stream;
    cfg.Subjects = a->subjects;
    cfg.SubjectsLen = a->n_subjects;
    cfg.Storage = a->storage;
    cfg.Replicas = a->replicas;
    do {
        jerr = 0;
        s = js_AddStream(&si, js, &cfg, req_opts(&o), &jerr);
    } while (s != NATS_OK && retry(s, jerr));
    rc = s == NATS_OK ? print_line(info_json(si)) : fail("create stream", s, jerr);
    jsStreamInfo_Destroy(si);
    return rc;
}

/* Publishes and prints the ack. A retry after a lost ack may store the
 * message twice unless --msg-id lets JetStream drop the copy. */
static int publish(jsCtx *js, const struct args *a)
{
    jsPubAck *ack = NULL;
    jsPubOptions po;
    jsErrCode jerr;
    natsStatus s;
    int rc;

    do {
        jsPubOptions_Init(&po);
        po.MsgId = a->msg_id;
        po.MaxWait = wait_ms();
        jerr = 0;
        s = js_Publish(&ack, js, a->subject, a->data, (int)strlen(a->data), &po, &jerr);
    } while (s != NATS_OK && retry(s, jerr));
    if (s != NATS_OK)
        return fail("publish", s, jerr);
    rc = print_line(json_pack("{s:s?, s:o, s:b}", "stream", ack->Stream, "seq",
                              u64_json(ack->Sequence), "duplicate", ack->Duplicate));
    jsPubAck_Destroy(ack);
    return rc;
}

static int delete_msg(jsCtx *js, const struct args *a)
{
    jsOptions o;
    jsErrCode jerr;
    natsStatus s;

    do {
        jerr = 0;
        s = js_DeleteMsg(js, a->stream, a->delete_seq, req_opts(&o), &jerr);
    } while (s != NATS_OK && retry(s, jerr));
    if (s != NATS_OK)
        return fail("delete message", s, jerr);
    return print_line(json_pack("{s:o}", "deleted", u64_json(a->delete_seq)));
}

/* Connects to any of the URLs, trying again until the deadline: a server
 * the test has just (re)started may not accept yet. */
static int connect_until_deadline(struct args *a, natsConnection **nc)
{
    natsOptions *opts = NULL;
    natsStatus s;

    if ((s = natsOptions_Create(&opts)) != NATS_OK)
        return fail("options", s, 0);
    natsOptions_SetServers(opts, a->urls, a->n_urls);
    natsOptions_SetName(opts, "ll_nats_dump");
    /* Lost connections are re-made quickly and for as long as the run
     * lasts; the deadline, not the library, ends the attempts. */
    natsOptions_SetAllowReconnect(opts, true);
    natsOptions_SetMaxReconnect(opts, 1000000);
    natsOptions_SetReconnectWait(opts, RETRY_PAUSE_MS);
    for (;;) {
        natsOptions_SetTimeout(opts, wait_ms());
        s = natsConnection_Connect(nc, opts);
        if (s == NATS_OK || !retry(NATS_NO_SERVER, 0))
            break;
    }
    natsOptions_Destroy(opts);
    if (s != NATS_OK) {
        fprintf(stderr, "ll_nats_dump: cannot connect to %s: %s\n", a->urls_arg,
                natsStatus_GetText(s));
        return X_TIMEOUT;
    }
    return X_OK;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: ll_nats_dump --nats URL[,URL...] --stream NAME [--from-seq N] [--max N]\n"
            "                    [--timeout-s S]\n"
            "       ll_nats_dump --nats URLS --stream NAME --info\n"
            "       ll_nats_dump --nats URLS --create-stream NAME --subjects S[,S...]\n"
            "                    [--replicas N] [--storage file|memory]\n"
            "       ll_nats_dump --nats URLS --publish SUBJECT [--msg-id ID] --data TEXT\n"
            "       ll_nats_dump --nats URLS --stream NAME --delete-seq N\n"
            "exit: 0 done, 1 NATS error, 2 usage, 3 stream not found, 4 out of time\n");
}

static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!s || *s < '0' || *s > '9')
        return false;
    v = strtoull(s, &end, 10);
    if (*end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Splits a comma-separated list in place (buf is the caller's copy). */
static bool split(char *buf, const char **items, int cap, int *n)
{
    char *save = NULL;

    *n = 0;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == cap)
            return false;
        items[(*n)++] = t;
    }
    return *n > 0;
}

static void set_mode(struct args *a, enum mode m)
{
    a->mode = m;
    a->n_modes++;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    enum {
        O_NATS = 256,
        O_STREAM,
        O_FROM,
        O_MAX,
        O_TIMEOUT,
        O_INFO,
        O_CREATE,
        O_SUBJECTS,
        O_REPLICAS,
        O_STORAGE,
        O_PUBLISH,
        O_MSG_ID,
        O_DATA,
        O_DELETE
    };
    static const struct option longs[] = {
        {"nats", required_argument, NULL, O_NATS},
        {"stream", required_argument, NULL, O_STREAM},
        {"from-seq", required_argument, NULL, O_FROM},
        {"max", required_argument, NULL, O_MAX},
        {"timeout-s", required_argument, NULL, O_TIMEOUT},
        {"info", no_argument, NULL, O_INFO},
        {"create-stream", required_argument, NULL, O_CREATE},
        {"subjects", required_argument, NULL, O_SUBJECTS},
        {"replicas", required_argument, NULL, O_REPLICAS},
        {"storage", required_argument, NULL, O_STORAGE},
        {"publish", required_argument, NULL, O_PUBLISH},
        {"msg-id", required_argument, NULL, O_MSG_ID},
        {"data", required_argument, NULL, O_DATA},
        {"delete-seq", required_argument, NULL, O_DELETE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t v;
    char *end;
    int c;

    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case O_NATS:
            a->urls_arg = optarg;
            free(a->urls_buf);
            if (!(a->urls_buf = strdup(optarg))) /* split() cuts it */
                return X_NATS;
            if (!split(a->urls_buf, a->urls, URLS_MAX, &a->n_urls)) {
                fprintf(stderr, "ll_nats_dump: --nats takes 1 to %d URLs\n", URLS_MAX);
                return X_USAGE;
            }
            break;
        case O_STREAM:
            a->stream = optarg;
            break;
        case O_FROM:
            if (!parse_u64(optarg, 1, UINT64_MAX, &a->from_seq))
                goto bad;
            break;
        case O_MAX:
            if (!parse_u64(optarg, 0, UINT64_MAX, &a->max))
                goto bad;
            break;
        case O_TIMEOUT:
            a->timeout_s = strtod(optarg, &end);
            if (*end || !(a->timeout_s >= 0.1 && a->timeout_s <= 3600))
                goto bad;
            break;
        case O_INFO:
            set_mode(a, M_INFO);
            break;
        case O_CREATE:
            set_mode(a, M_CREATE);
            a->stream = optarg;
            break;
        case O_SUBJECTS:
            free(a->subjects_buf);
            if (!(a->subjects_buf = strdup(optarg)))
                return X_NATS;
            if (!split(a->subjects_buf, a->subjects, SUBJECTS_MAX, &a->n_subjects))
                goto bad;
            break;
        case O_REPLICAS:
            if (!parse_u64(optarg, 1, 5, &v))
                goto bad;
            a->replicas = (int64_t)v;
            break;
        case O_STORAGE:
            if (strcmp(optarg, "file") && strcmp(optarg, "memory"))
                goto bad;
            a->storage = strcmp(optarg, "file") ? js_MemoryStorage : js_FileStorage;
            break;
        case O_PUBLISH:
            set_mode(a, M_PUBLISH);
            a->subject = optarg;
            break;
        case O_MSG_ID:
            a->msg_id = optarg;
            break;
        case O_DATA:
            a->data = optarg;
            break;
        case O_DELETE:
            set_mode(a, M_DELETE);
            if (!parse_u64(optarg, 1, UINT64_MAX, &a->delete_seq))
                goto bad;
            break;
        default:
            usage();
            return X_USAGE;
        }
    }
    if (optind != argc || !a->n_urls || a->n_modes > 1)
        goto bad;
    if (a->mode == M_PUBLISH ? !a->data : !a->stream)
        goto bad;
    if (a->mode == M_CREATE && !a->n_subjects)
        goto bad;
    return X_OK;
bad:
    usage();
    return X_USAGE;
}

int main(int argc, char **argv)
{
    struct args a = {.max = MAX_MSGS_DEFAULT, .timeout_s = TIMEOUT_S_DEFAULT, .replicas = 1};
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsStatus s;
    int rc;

    if ((rc = parse_args(argc, argv, &a)) != X_OK)
        goto out;
    deadline_ms = now_ms() + (int64_t)(a.timeout_s * 1000);
    if ((s = nats_Open(-1)) != NATS_OK) {
        rc = fail("library", s, 0);
        goto out;
    }
    if ((rc = connect_until_deadline(&a, &nc)) != X_OK)
        goto close;
    if ((s = natsConnection_JetStream(&js, nc, NULL)) != NATS_OK) {
        rc = fail("JetStream context", s, 0);
        goto close;
    }
    switch (a.mode) {
    case M_DUMP:
        rc = dump(js, &a);
        break;
    case M_INFO:
        rc = info(js, &a);
        break;
    case M_CREATE:
        rc = create(js, &a);
        break;
    case M_PUBLISH:
        rc = publish(js, &a);
        break;
    case M_DELETE:
        rc = delete_msg(js, &a);
        break;
    }
    if (fflush(stdout) != 0 && rc == X_OK)
        rc = X_NATS;
close:
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    /* Waits for the library's threads, so that LeakSanitizer sees its
     * memory freed. */
    nats_CloseAndWait(2000);
out:
    free(a.urls_buf);
    free(a.subjects_buf);
    return rc;
}
