CMakeFiles/ll_core.dir/src/util/err.c.o: /work/main/src/util/err.c \
 /usr/include/stdc-predef.h /work/main/src/util/err.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h
