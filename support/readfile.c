#include "support/readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const moac_read_limits moac_limits_spec = {"spec files", MOAC_LIMIT_SPEC_BYTES, 1};
const moac_read_limits moac_limits_ir = {"IR text", MOAC_LIMIT_IR_BYTES, 1};
const moac_read_limits moac_limits_data = {"training data", MOAC_LIMIT_DATA_BYTES, 0};
const moac_read_limits moac_limits_checkpoint = {"checkpoints", MOAC_LIMIT_CHECKPOINT_BYTES, 0};
const moac_read_limits moac_limits_tokens = {"token files", MOAC_LIMIT_TOKEN_BYTES, 0};
/* not text: a system that stopped while a line was written can leave NUL bytes at the end,
 * which moac plot reports as a cut last line rather than refusing the file */
const moac_read_limits moac_limits_metrics = {"metrics files", MOAC_LIMIT_METRICS_BYTES, 0};

static const char *kind_of(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO (named pipe)";
    if (S_ISSOCK(m)) return "a socket";
    return "not a plain file";
}

/* "1.5 GiB", "32 MiB", "812 bytes": sizes in messages. */
static void show_size(uint64_t n, char *buf, size_t len) {
    if (n >= (uint64_t)1 << 30) snprintf(buf, len, "%.3g GiB", (double)n / 1073741824.0);
    else if (n >= (uint64_t)1 << 20) snprintf(buf, len, "%.3g MiB", (double)n / 1048576.0);
    else snprintf(buf, len, "%llu bytes", (unsigned long long)n);
}

static void too_large(const moac_read_limits *lim, uint64_t size, int at_least, char *why, size_t whylen) {
    char have[32], max[32];
    show_size(size, have, sizeof have);
    show_size(lim->max_bytes, max, sizeof max);
    snprintf(why, whylen, "it is %s%s, over moac's limit of %s for %s; is it the right file?",
             at_least ? "more than " : "", have, max, lim->what);
}

/* Closes fd after a check failed; errno 0 says "the file is there" to callers that test ENOENT. */
static int refuse(int fd) {
    close(fd);
    errno = 0;
    return -1;
}

/* Opens path without blocking (a FIFO would otherwise wait for a writer before fstat could say
 * what it is) and checks that it is a regular file within the limit. The descriptor, or -1. */
static int open_checked(const char *path, const moac_read_limits *lim, uint64_t *size, char *why, size_t whylen) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        snprintf(why, whylen, "%s", strerror(err));
        errno = err; /* callers tell a missing file (ENOENT) from the rest */
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb)) {
        snprintf(why, whylen, "%s", strerror(errno));
        return refuse(fd);
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(why, whylen, "it is %s, not a regular file (moac reads %s only from regular files)",
                 kind_of(sb.st_mode), lim->what);
        return refuse(fd);
    }
    if ((uint64_t)sb.st_size > lim->max_bytes) {
        too_large(lim, (uint64_t)sb.st_size, 0, why, whylen);
        return refuse(fd);
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    *size = (uint64_t)sb.st_size;
    return fd;
}

int moac_file_read(const char *path, const moac_read_limits *lim, char **out, size_t *len, char *why,
                   size_t whylen) {
    *out = NULL;
    *len = 0;
    uint64_t size = 0;
    int fd = open_checked(path, lim, &size, why, whylen);
    if (fd < 0) return -1;
    /* The size is a hint: a file may grow while it is read, and files in /proc say 0. Reading
     * stops one byte past the limit, so nothing larger is ever held. */
    size_t cap = (size_t)size + 1 < 4096 ? 4096 : (size_t)size + 1, n = 0;
    if ((uint64_t)cap > lim->max_bytes + 1) cap = (size_t)lim->max_bytes + 1;
    char *buf = malloc(cap + 1);
    int failed = 0;
    while (buf) {
        if (n == cap) {
            if ((uint64_t)n > lim->max_bytes) break;
            size_t bigger = cap * 2 > lim->max_bytes + 1 ? (size_t)lim->max_bytes + 1 : cap * 2;
            char *grown = realloc(buf, bigger + 1);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap = bigger;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            snprintf(why, whylen, "%s", strerror(errno));
            failed = 1;
            break;
        }
        if (got == 0) break;
        /* a binary file is refused at its first NUL, not after reading all of it */
        const char *nul = lim->text ? memchr(buf + n, 0, (size_t)got) : NULL;
        if (nul) {
            snprintf(why, whylen, "it contains a NUL byte (at byte %zu); %s must be text, is it a binary file?",
                     (size_t)(nul - buf), lim->what);
            failed = 1;
            break;
        }
        n += (size_t)got;
    }
    close(fd);
    if (!buf) {
        snprintf(why, whylen, "out of memory reading it");
        errno = 0;
        return -1;
    }
    if (!failed && (uint64_t)n > lim->max_bytes) {
        too_large(lim, lim->max_bytes, 1, why, whylen);
        failed = 1;
    }
    if (failed) {
        free(buf);
        errno = 0;
        return -1;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

int moac_file_open_fd(const char *path, const moac_read_limits *lim, uint64_t *size, char *why, size_t whylen) {
    return open_checked(path, lim, size, why, whylen);
}

FILE *moac_file_open(const char *path, const moac_read_limits *lim, uint64_t *size, char *why, size_t whylen) {
    int fd = open_checked(path, lim, size, why, whylen);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        snprintf(why, whylen, "%s", strerror(errno));
        close(fd);
    }
    return f;
}
