#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEYCTL_GET_KEYRING_ID 0
#define KEYCTL_DESCRIBE 6
#define KEYCTL_READ 11
#define KEYCTL_SEARCH 10
#define KEY_SPEC_SESSION_KEYRING -3
#define KEY_SPEC_PROCESS_KEYRING -2

static long rc(long r) { return r < 0 ? errno : 0; }

static long clone_flags(unsigned long flags) {
    long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid < 0) return errno;
    waitpid(pid, 0, 0);
    return 0;
}

static long perf(void) {
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.type = PERF_TYPE_SOFTWARE; a.size = sizeof a; a.config = PERF_COUNT_SW_TASK_CLOCK;
    a.disabled = 1; a.exclude_kernel = 1; a.exclude_hv = 1;
    long fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
    if (fd < 0) return errno;
    close(fd);
    return 0;
}

#ifdef __x86_64__
/* the i386 ABI from a 64-bit process (int 0x80): another syscall table, another audit arch */
static long int80(long nr, long a) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a) : "memory");
    return r < 0 ? -r : 0;
}
#endif

static long one(const char *name, const char *arg) {
#ifdef __x86_64__
    if (!strcmp(name, "unshare_user_i386")) return int80(310, CLONE_NEWUSER);
#endif
    if (!strcmp(name, "unshare_user")) return rc(syscall(SYS_unshare, CLONE_NEWUSER));
    if (!strcmp(name, "unshare_mnt")) return rc(syscall(SYS_unshare, CLONE_NEWNS));
    if (!strcmp(name, "clone_newuser")) return clone_flags(CLONE_NEWUSER);
    if (!strcmp(name, "clone_plain")) return clone_flags(0);
    if (!strcmp(name, "clone3")) return rc(syscall(435, 0, 0));
    if (!strcmp(name, "mount")) {
        long r = rc(syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, 0));
        if (r == 0) umount2("/tmp", MNT_DETACH);
        return r;
    }
    if (!strcmp(name, "keyctl")) return rc(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    if (!strcmp(name, "add_key")) return rc(syscall(SYS_add_key, "user", "sbx-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
    if (!strcmp(name, "request_key")) return rc(syscall(SYS_request_key, "user", "sbx-probe", 0, 0));
    if (!strcmp(name, "perf_event_open")) return perf();
    if (!strcmp(name, "userfaultfd")) {
        long fd = syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */);
        if (fd < 0) return errno;
        close(fd);
        return 0;
    }
    if (!strcmp(name, "personality_linux32")) return rc(syscall(SYS_personality, PER_LINUX32));
    if (!strcmp(name, "personality_norandom")) return rc(syscall(SYS_personality, ADDR_NO_RANDOMIZE));
    if (!strcmp(name, "socket_inet")) { long fd = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); if (fd < 0) return errno; close(fd); return 0; }
    if (!strcmp(name, "socket_vsock")) { long fd = syscall(SYS_socket, 40, SOCK_STREAM, 0); if (fd < 0) return errno; close(fd); return 0; }
    if (!strcmp(name, "euid")) return geteuid();  /* (a setuid copy: who it runs as) */
    if (!strcmp(name, "bpf")) return rc(syscall(SYS_bpf, 0, 0, 0));
    if (!strcmp(name, "mkdir")) { long r = rc(syscall(SYS_mkdir, "/tmp/probe-dir", 0755)); rmdir("/tmp/probe-dir"); return r; }
    /* keyrings: search the session keyring for a description / read a key by serial */
    if (!strcmp(name, "key_search")) return rc(syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, "user", arg, 0));
    if (!strcmp(name, "key_get")) {  /* find it as a program would (session, then user keyring), read it */
        char buf[256];
        long id = syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, "user", arg, 0);
        if (id < 0) id = syscall(SYS_keyctl, KEYCTL_SEARCH, -4 /* user keyring */, "user", arg, 0);
        if (id < 0) return errno;
        return rc(syscall(SYS_keyctl, KEYCTL_READ, id, buf, sizeof buf));
    }
    if (!strcmp(name, "key_steal")) {  /* link a user-keyring key into our session, then read it */
        char buf[256];
        long id = syscall(SYS_keyctl, KEYCTL_SEARCH, -4, "user", arg, KEY_SPEC_SESSION_KEYRING);
        if (id < 0) return errno;
        return rc(syscall(SYS_keyctl, KEYCTL_READ, id, buf, sizeof buf));
    }
    if (!strcmp(name, "key_read")) { char buf[256]; return rc(syscall(SYS_keyctl, KEYCTL_READ, atol(arg), buf, sizeof buf)); }
    if (!strcmp(name, "session_name")) {
        char buf[256] = {0};
        long r = syscall(SYS_keyctl, KEYCTL_DESCRIBE, KEY_SPEC_SESSION_KEYRING, buf, sizeof buf - 1);
        if (r < 0) return errno;
        printf("session=%s\n", buf);
        return 0;
    }
    fprintf(stderr, "unknown probe %s\n", name);
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {  /* each probe in a child of its own: no state carries */
        pid_t pid = fork();
        if (pid == 0) {
            char *name = strdup(argv[i]), *arg = strchr(name, ':');
            if (arg) *arg++ = 0;
            printf("%s=%ld\n", name, one(name, arg ? arg : ""));
            fflush(stdout);
            _exit(0);
        }
        waitpid(pid, 0, 0);
    }
    return 0;
}
