#ifndef C_STANDARD_DESCRIPTORS_H
#define C_STANDARD_DESCRIPTORS_H

/// How many of stdin, stdout and stderr were closed when the process started and were opened on /dev/null.
int agent_bridge_reopened_standard_descriptors(void);

#endif
