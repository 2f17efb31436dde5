"""SOP step 11: the application's source repository on GitLab (python-gitlab).

`GitLabProvider` plans and applies; `project_info` tells later steps where the project is.
(The demo's developer push is devstack/demo_push.py, outside the product.)
"""

from provision.gitlab.info import project_info
from provision.gitlab.provider import GitLabPartialApply, GitLabProvider

__all__ = ["GitLabPartialApply", "GitLabProvider", "project_info"]
