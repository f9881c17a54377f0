/*
 * san-mpi.c - linked into vec-query-mpi by `make SAN=1` only.
 *
 * OpenMPI's MPI_Init allocates in MCA plugins that MPI_Finalize unloads without freeing, so
 * LeakSanitizer reports leaks at exit whose stacks end in "<unknown module>": no suppression
 * can name them.  Leak checking is therefore off for this one binary; AddressSanitizer and
 * UBSan still check it, and vec-query, built from the same source without MPI, is leak-checked.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0"; }
