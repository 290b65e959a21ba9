/* A library to preload next to lemmalloc: the wrapper must keep it. */
int lemmalloc_test_marker = 42;
