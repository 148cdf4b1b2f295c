#!/bin/sh
# Regenerate the example leaflets in this folder: one PDF per locale, and its first page as
# a 100 dpi PNG (needs pdftoppm from poppler-utils; colours reduced with Pillow to keep
# the files small). Run from the repository root: sh docs/leaflets/render.sh
set -eu
PYTHON=${PYTHON:-python}
ARTICLE=${1:-ru-ban-check-online}
OUT=docs/leaflets
for locale in ky tg ru uz uz_Cyrl; do
    base="$OUT/$ARTICLE-$locale"
    "$PYTHON" -m bot leaflet "$ARTICLE" "$locale" "$base.pdf"
    pdftoppm -r 100 -png -singlefile "$base.pdf" "$base"
    "$PYTHON" -c "import sys; from PIL import Image
Image.open(sys.argv[1]).convert('RGB').quantize(32).save(sys.argv[1], optimize=True)" "$base.png"
done
