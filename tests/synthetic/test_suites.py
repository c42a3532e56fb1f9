from vmat.synthetic import SUITES, derive_seed, ensure_suite, suite_specs


def test_suite_seeds_are_fixed_named_and_in_the_eval_namespace():
    specs = suite_specs("standard")
    assert len(specs) == 12
    assert {s.config.level for s in specs} == {"easy", "medium", "hard"}
    assert {s.config.camera for s in specs} == {"static", "pan"}
    assert all(s.config.namespace == "eval" for s in specs)
    assert len({s.config.seed for s in specs}) == 12
    assert derive_seed("easy-static-0") == derive_seed("easy-static-0") != derive_seed("easy-static-1")
    # clips are shared between suites: the level suites are slices of the standard one
    assert {s.name for s in SUITES["easy"]} <= {s.name for s in specs}


def test_ensure_suite_generates_once(tmp_path):
    clips = ensure_suite("smoke", tmp_path)
    assert [c.level for c in clips] == ["easy", "medium", "hard"]
    stamp = (clips[0].folder / "manifest.json").stat().st_mtime_ns
    again = ensure_suite("smoke", tmp_path)
    assert (again[0].folder / "manifest.json").stat().st_mtime_ns == stamp


def test_hd_suite_is_720p_with_detailed_people_and_its_own_names():
    specs = suite_specs("hd")
    assert [(s.config.width, s.config.height, s.config.detailed) for s in specs] == [(1280, 720, True)] * 3
    assert {s.name for s in specs}.isdisjoint({s.name for s in suite_specs("standard")})
    assert all(s.name.endswith("-detailed") for s in specs)


def test_quick_suite_is_the_first_clip_of_each_standard_level_and_camera():
    quick = suite_specs("quick")
    standard = {s.name: s.config for s in suite_specs("standard")}
    levels, cameras = ("easy", "medium", "hard"), ("static", "pan")
    assert [s.name for s in quick] == [f"{level}-{camera}-0" for level in levels for camera in cameras]
    assert all(standard[s.name] == s.config for s in quick)
