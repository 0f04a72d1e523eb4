"""Which sequences a run evaluates: a reproducible list file, and a deterministic sample across identities.

* ``sequence_list``: a text file with one ``PERSON/VIDEO/SEQUENCE`` a line (blank lines and ``#`` comments
  ignored); exactly those sequences are evaluated, in the data set's order. A line naming no sequence of the data
  set, or a line given twice, is an error naming the file, the line and the fix. Its sha256 goes into the record.
* ``max_sequences = N``: N sequences picked round-robin over identities (persons sorted by name, each person's
  sequences in the data set's order: the first of every person, then the second of every person, ...), so a
  small sample spans many people; on VoxCeleb2 the first N sorted would all be one person.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.data.types import SequenceRef
from bench.errors import DataError

__all__ = ["read_sequence_list", "round_robin", "select_sequences"]


def read_sequence_list(path: Path) -> list[str]:
    """The ids of a sequence list file, in file order."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, "sequence list not found", "pass an existing file to --sequence-list") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot read the sequence list ({error})", "pass a UTF-8 text file") from error
    ids, seen = [], {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.count("/") != 2 or any(not part for part in line.split("/")):
            raise DataError(path, f"line {number} {line!r} is not PERSON/VIDEO/SEQUENCE", "one sequence id a line")
        if line in seen:
            raise DataError(path, f"line {number} repeats {line!r} (first on line {seen[line]})", "list it once")
        seen[line] = number
        ids.append(line)
    if not ids:
        raise DataError(path, "the sequence list names no sequence", "one PERSON/VIDEO/SEQUENCE a line")
    return ids


def round_robin(sequences: Sequence[SequenceRef], count: int) -> list[SequenceRef]:
    """``count`` sequences taken in turn from each person (sorted), kept in the data set's order."""
    by_person: dict[str, list[int]] = {}
    for index, sequence in enumerate(sequences):
        by_person.setdefault(sequence.person, []).append(index)
    queues = [by_person[person] for person in sorted(by_person)]
    chosen: list[int] = []
    depth = 0
    while len(chosen) < count and any(depth < len(q) for q in queues):
        chosen.extend(q[depth] for q in queues if depth < len(q))
        depth += 1
    return [sequences[i] for i in sorted(chosen[:count])]


def select_sequences(
    sequences: Sequence[SequenceRef], max_sequences: int = 0, sequence_list: str = ""
) -> list[SequenceRef]:
    """The list file's sequences (all of them must exist), then at most ``max_sequences`` round-robin."""
    chosen = list(sequences)
    if sequence_list:
        path = Path(sequence_list).expanduser()
        wanted = read_sequence_list(path)
        known = {s.id for s in sequences}
        missing = [w for w in wanted if w not in known]
        if missing:
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            raise DataError(path, f"{len(missing)} listed sequence(s) are not in the data set: {shown}",
                            "fix the list or the data root and split")  # fmt: skip
        keep = set(wanted)
        chosen = [s for s in sequences if s.id in keep]
    return round_robin(chosen, max_sequences) if max_sequences > 0 else chosen
