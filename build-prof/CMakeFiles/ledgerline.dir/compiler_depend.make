# Empty compiler generated dependencies file for ledgerline.
# This may be replaced when dependencies are built.
