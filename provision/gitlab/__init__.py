"""SOP step 11: the application's source repository on GitLab (python-gitlab).

`GitLabProvider` plans and applies; `project_info` tells later steps where the project is;
`push_sample_app` pushes a sample application the way a developer would (demo, tests).
"""

from provision.gitlab.info import project_info
from provision.gitlab.provider import GitLabPartialApply, GitLabProvider

__all__ = ["GitLabPartialApply", "GitLabProvider", "project_info"]
