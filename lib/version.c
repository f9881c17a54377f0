/* version.c - the library's version at run time (vecseg.h keeps the number). */
#include "vecseg.h"

const char *vs_version(void) { return VS_VERSION_STRING; }

unsigned vs_version_number(void) { return VS_VERSION_NUMBER; }
