import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The tiny tensors here gain nothing from threads, and on a loaded shared machine waiting OpenMP
    threads made a 30-step fit 60x slower (37 s instead of 0.6 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
