file(REMOVE_RECURSE
  "libll_core.a"
)
