CMakeFiles/ll_core.dir/src/util/bulk.c.o: /work/main/src/util/bulk.c \
 /usr/include/stdc-predef.h /work/main/src/util/bulk.h \
 /work/main/src/util/thread.h
