"""Team-edited YAML files: one clear error naming the file and line, whatever the loader."""
import pytest

from xiaobao.complaints_engine.scorecard import load_scorecard
from xiaobao.complaints_engine.tags import load_vocabulary
from xiaobao.errors import InputError
from xiaobao.yamlfile import read_yaml_mapping, read_yaml_with_digest


def test_yaml_mistake_names_the_line(tmp_path):
    f = tmp_path / "rules.yaml"
    f.write_text("rules:\n  - name: a\n    when: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_yaml_mapping(f, "rules file")
    assert err.value.line == 4 and "rules file is not valid YAML" in str(err.value)


@pytest.mark.parametrize("content, needle", [
    (b"- just\n- a list\n", "must be a mapping at the top level, not a list"),
    ("规则: 一".encode("gb18030"), "not UTF-8"),
])
def test_loaders_refuse_files_that_are_not_mappings(tmp_path, content, needle):
    f = tmp_path / "x.yaml"
    f.write_bytes(content)
    for loader in (load_scorecard, load_vocabulary):
        with pytest.raises(InputError, match=needle):
            loader(str(f))


def test_missing_file_and_digest(tmp_path):
    with pytest.raises(InputError, match="lexicon not found"):
        read_yaml_mapping(tmp_path / "nope.yaml", "lexicon")
    f = tmp_path / "ok.yaml"
    f.write_text("a: 1\n", encoding="utf-8")
    doc, digest = read_yaml_with_digest(f)
    assert doc == {"a": 1} and len(digest) == 64
    f.write_text("", encoding="utf-8")
    assert read_yaml_mapping(f) == {}
