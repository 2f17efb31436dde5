"""The developer's part of the demo (SOP step 12): push the sample application with its
step-13 documents to the request's repository and tag the release v1.0.0."""

import json
import sys
from pathlib import Path

from provision.context import App
from provision.gitlab import demo

request_id, credentials = sys.argv[1], Path(sys.argv[2])
files = dict(demo.SAMPLE_PHP_APP)
files.update({
    "docs/panduan-pengguna.md": "# Panduan Pengguna\n\nBuka halaman utama, masuk dengan NIP.\n",
    "docs/kebutuhan-sistem.md": "# Kebutuhan Sistem\n\nPHP 8.2, MariaDB 10.11, nginx.\n",
    "docs/pengujian/uat.md": "# Hasil UAT\n\nSemua skenario diterima oleh Tim Teknis OPD.\n",
})
app = App()
root_token = json.loads(credentials.read_text())["root_token"]
from provision.gitlab.info import project_info  # noqa: E402

info = project_info(app, request_id)
token = demo.developer_token(app.config.gitlab.url, root_token, "budi.dev")
print(demo.push_sample_app(info["http_url"], token, files=files, base=info.get("default_branch") or "main"))
