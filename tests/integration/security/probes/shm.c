/* SysV shared memory from inside a container.
 * usage: shm create KEY   (a 4 KiB segment; prints its id)
 *        shm find KEY     (exit 0 if a segment with KEY is visible, 1 if not) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    key_t key = (key_t)strtol(argv[2], NULL, 0);
    if (strcmp(argv[1], "create") == 0) {
        int id = shmget(key, 4096, IPC_CREAT | 0600);
        if (id < 0) { perror("shmget"); return 3; }
        printf("%d\n", id);
        return 0;
    }
    int id = shmget(key, 0, 0);
    if (id >= 0) { printf("found %d\n", id); return 0; }
    printf("absent: %s\n", strerror(errno));
    return errno == ENOENT ? 1 : 3;
}
