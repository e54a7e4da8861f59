#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
/* connect to the abstract unix socket argv[1] and print what it says, or the error */
int main(int argc, char **argv) {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    size_t n = strlen(argv[1]);
    memcpy(a.sun_path + 1, argv[1], n);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&a, sizeof(sa_family_t) + 1 + n) != 0) {
        printf("abstract connect: %s\n", strerror(errno));
        return 0;
    }
    char buf[256];
    ssize_t r = read(s, buf, sizeof buf - 1);
    buf[r > 0 ? r : 0] = 0;
    printf("abstract connected: %s\n", buf);
    return 0;
}
