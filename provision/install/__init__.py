"""Step 14: install the application on its server (Ansible through ansible-runner), roll
back, run remote commands (fabric) and test the install (smoke, app tests, testinfra).

Nothing here prints or imports click: progress goes to callbacks, results are returned.
"""
