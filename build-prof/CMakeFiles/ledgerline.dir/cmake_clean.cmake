file(REMOVE_RECURSE
  "CMakeFiles/ledgerline.dir/src/main.c.o"
  "CMakeFiles/ledgerline.dir/src/main.c.o.d"
  "ledgerline"
  "ledgerline.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/ledgerline.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
