#!/bin/sh
# The application's own tests, run on the server as the app user.
set -e
echo "menguji app.py"
python3 -c "import app; print('versi', app.VERSION)"
