# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation shared by this collection's modules."""
from __future__ import annotations


class ModuleDocFragment:
    # A module that only reads: the same in check mode, nothing to diff, on any POSIX host.
    READ_ONLY = r"""
attributes:
  check_mode:
    support: full
    details: It only reads, so it reads in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""
