<?php
// Reads the environment file the installer writes (0600, owned by the app user).
$env = [];
foreach (@file(__DIR__ . '/../.env', FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) ?: [] as $line) {
    if ($line[0] === '#' || strpos($line, '=') === false) continue;
    [$k, $v] = explode('=', $line, 2);
    $env[$k] = $v;
}
header('Content-Type: text/plain; charset=utf-8');
echo "Aplikasi Catatan " . ($env['APP_VERSION_LABEL'] ?? '') . "\n";
try {
    $db = new PDO('mysql:unix_socket=/run/mysqld/mysqld.sock;dbname=' . ($env['DB_NAME'] ?? ''),
                  $env['DB_USER'] ?? '', $env['DB_PASSWORD'] ?? '');
    foreach ($db->query('SELECT isi FROM catatan ORDER BY id') as $row) {
        echo "catatan: " . $row['isi'] . "\n";
    }
} catch (PDOException $e) {
    http_response_code(500);
    echo "database error\n";
}
