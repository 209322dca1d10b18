// Linux system headers that Swift's Glibc module leaves out: statfs (is a
// directory on tmpfs?) and extended attributes (SELinux labels). Headers
// only; nothing is linked beyond libc.
#ifndef SE_SECRETD_CLINUXEXTRAS_H
#define SE_SECRETD_CLINUXEXTRAS_H
#include <sys/vfs.h>
#include <sys/xattr.h>
#endif
