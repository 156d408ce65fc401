import pytest

from annotation.ai.services import ai_labeller_create, constitution_create
from tests.annotation.ai import judges
from tests.factories import DatasetFactory, PairFactory, PromptFactory, ResponseFactory


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def judge_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("judges")
    return {"random": str(judges.save_random_judge(root / "random")),
            "first": str(judges.save_first_position_judge(root / "first"))}


def make_pairs(n: int, *, dataset=None, texts=None):
    dataset = dataset or DatasetFactory()
    pairs = []
    for i in range(n):
        prompt = PromptFactory(dataset=dataset, messages=[{"role": "user", "content": f"the cat sat {i}"}])
        a, b = texts[i] if texts else (f"the dog ran {i}", f"the sun rain {i}")
        pairs.append(PairFactory(dataset=dataset, prompt=prompt, response_a=ResponseFactory(prompt=prompt, text=a),
                                 response_b=ResponseFactory(prompt=prompt, text=b, source="model-y")))
    return dataset, pairs


def causal_judge(folder: str, *, username: str = "judge", principles=("Be kind.", "Be brief.", "Be true."), **settings):
    constitution = constitution_create(name=f"{username}-rules", principles=list(principles))
    return ai_labeller_create(username=username, backend="causal_lm", model_path=folder, constitution=constitution,
                              settings=settings)
