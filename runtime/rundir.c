#include "runtime/rundir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int moac_rundir_make(const char *dir, moac_diag *d) {
    char path[4096];
    if (strlen(dir) >= sizeof path) {
        moac_diag_file_error(d, dir, "the output directory's path is too long; pass a shorter --out");
        return -1;
    }
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(path, 0777) && errno != EEXIST) break;
        *p = '/';
    }
    if (mkdir(path, 0777) && errno != EEXIST) {
        moac_diag_file_error(d, dir, "cannot create the output directory: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(path, &st) || !S_ISDIR(st.st_mode)) {
        moac_diag_file_error(d, dir, "is not a directory; pass another --out");
        return -1;
    }
    return 0;
}

int moac_rundir_lock(const char *dir, moac_diag *d) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, MOAC_RUNDIR_LOCK);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        moac_diag_file_error(d, dir, "cannot create the run's lock file %s: %s; check that the directory is writable",
                             MOAC_RUNDIR_LOCK, strerror(errno));
        return -1;
    }
    /* fcntl record locks belong to the process and vanish with it (kill -9 included); unlike
     * flock they tell who holds them. */
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_SETLK, &fl) == 0) {
        char pid[32];
        int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        /* The pid in the file is for people looking; the lock itself is what counts. */
        if (ftruncate(fd, 0) == 0 && write(fd, pid, (size_t)n) == n) (void)0;
        return fd;
    }
    int err = errno;
    struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    long holder = fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK ? (long)who.l_pid : 0;
    close(fd);
    if (err == EACCES || err == EAGAIN) {
        if (holder > 0)
            moac_diag_file_error(d, dir, "another moac train (pid %ld) is running in this directory; wait for it to "
                                 "finish (or stop it), or pass another --out", holder);
        else
            moac_diag_file_error(d, dir, "another moac train is running in this directory (it holds %s); wait for it "
                                 "to finish, or pass another --out", MOAC_RUNDIR_LOCK);
    } else {
        moac_diag_file_error(d, dir, "cannot lock %s: %s; the file system may not support locks, pass an --out on a "
                             "local disk", MOAC_RUNDIR_LOCK, strerror(err));
    }
    return -1;
}

/* The pid of "<base>.tmp-<pid>", or 0 when name is not such a file. */
static long tmp_pid(const char *name, const char *base) {
    size_t n = strlen(base);
    if (strncmp(name, base, n) || strncmp(name + n, ".tmp-", 5)) return 0;
    const char *p = name + n + 5;
    char *end;
    long pid = *p >= '1' && *p <= '9' ? strtol(p, &end, 10) : 0;
    return pid > 0 && !*end ? pid : 0;
}

int moac_rundir_clean_stale(const char *dir, const char *base) {
    DIR *dh = opendir(dir);
    if (!dh) return 0;
    int removed = 0;
    struct dirent *e;
    char path[8400];
    while ((e = readdir(dh))) {
        long pid = tmp_pid(e->d_name, base);
        /* kill(pid, 0) fails with ESRCH only when no such process exists (EPERM: it does) */
        if (!pid || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) == 0) {
            removed++;
            fprintf(stderr, "moac: note: removed %s, left by process %ld, which ended while writing a checkpoint\n",
                    path, pid);
        }
    }
    closedir(dh);
    return removed;
}
