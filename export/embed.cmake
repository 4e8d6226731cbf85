# Writes the C array of a text file: cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake.
# export/model_template.py reaches moac this way (export/template.h declares it), so the Python
# stays a file of its own that reads and edits as Python.
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUT}.tmp"
     "/* Generated from ${IN} by export/embed.cmake; do not edit. */\n"
     "#include \"export/template.h\"\n\n"
     "const char ${NAME}[] = {${bytes}0x00};\n"
     "const size_t ${NAME}_len = sizeof ${NAME} - 1;\n")
file(RENAME "${OUT}.tmp" "${OUT}")
