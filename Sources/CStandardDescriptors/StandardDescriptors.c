#include "CStandardDescriptors.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static int reopened = 0;

// Runs before main and before the Swift runtime opens anything: a parent that closed stdin, stdout or stderr
// would otherwise hand that number to the first descriptor the process opens (libdispatch's epoll, an event
// loop, the database socket), and JSON-RPC answers or logs would be written into it.
__attribute__((constructor(101)))
static void occupy_closed_standard_descriptors(void) {
    for (int descriptor = STDIN_FILENO; descriptor <= STDERR_FILENO; descriptor++) {
        if (fcntl(descriptor, F_GETFD) == -1 && errno == EBADF) {
            // open() takes the lowest free number: the closed one.
            if (open("/dev/null", O_RDWR) == descriptor) reopened++;
        }
    }
}

int agent_bridge_reopened_standard_descriptors(void) {
    return reopened;
}
