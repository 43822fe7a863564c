"""Template bombs refused at save within a memory limit a 512 MB Lambda could live with, in a child process
whose address space is capped (a bomb that allocated before its check would die there with MemoryError)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOMBS = [
    "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}",
    "{% for a in 'x' * 5000 %}{% for b in 'y' * 5000 %}{% endfor %}{% endfor %}",
    "{% for a in 'x' * 2000 %}{% for b in 'y' * 2000 %}{% for c in 'z' * 2000 %}{% endfor %}{% endfor %}{% endfor %}",
    "{% set l = [] %}{% for a in 'x' * 9000 %}{% for b in 'y' * 9000 %}{% set _ = l.append(b) %}{% endfor %}"
    "{% endfor %}",
    "{{ '%*d' % (10**9, 1) }}",
    "{{ '%.*f' % (10**9, 1.5) }}",
    "{{ '{:>1000000000}'.format(1) }}",
    "{{ '{x:>1000000000}'.format_map({'x': 1}) }}",
    "{{ ('{0[a]:>999999999}').format({'a': 1}) }}",
]
CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (400 * 1024 * 1024, 400 * 1024 * 1024))
from chalicelib.core import rendering
out = []
for body in json.loads(sys.stdin.read()):
    try:
        rendering.check_body("en-US", body)
        out.append("accepted")
    except rendering.TemplateProblem as exc:
        out.append("refused: " + exc.reason)
    except MemoryError:
        out.append("MemoryError")
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def verdicts() -> list[str]:
    done = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(BOMBS), capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return list(json.loads(done.stdout))


@pytest.mark.parametrize("index", range(len(BOMBS)))
def test_each_bomb_is_refused_at_save_within_400_mb(verdicts: list[str], index: int) -> None:
    assert verdicts[index].startswith("refused: "), (BOMBS[index], verdicts[index])
