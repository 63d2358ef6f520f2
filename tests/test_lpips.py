"""Our perceptual loss is the field's LPIPS: `lpips.LPIPS` with its learned heads, on the same backbone weights."""
import lpips
import pytest
import torch
import torchvision

from restok_nb.losses import PerceptualLoss

ARCH = {"alex": "alexnet", "vgg": "vgg16"}


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_equals_lpips_package_on_the_same_backbone(net, tmp_path, monkeypatch):
    torch.manual_seed(0)
    trunk = getattr(torchvision.models, ARCH[net])()        # random weights made here, as torchvision names them
    for p in trunk.features.parameters():                   # not torchvision's init: give every layer a visible part
        p.data.normal_(0, 0.05)
    path = tmp_path / f"{ARCH[net]}.pth"
    torch.save({f"features.{k}": v for k, v in trunk.features.state_dict().items()}, path)   # LPIPS reads no classifier

    ours = PerceptualLoss(net, str(path))

    # lpips.LPIPS built its own way (heads read by lpips itself), its torchvision download answered with the same trunk
    build = getattr(torchvision.models, ARCH[net])

    def trunk_with_our_weights(*args, **kwargs):
        m = build()
        m.features.load_state_dict({k[len("features."):]: v for k, v in torch.load(path, weights_only=True).items()})
        return m
    monkeypatch.setattr(lpips.pretrained_networks.tv, ARCH[net], trunk_with_our_weights)
    ref = lpips.LPIPS(net=net, verbose=False).eval()

    x, y = torch.rand(3, 3, 64, 64), torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        expected = ref(x * 2 - 1, y * 2 - 1).mean()          # LPIPS takes [-1, 1]; ours takes [0, 1]
        got = ours(x, y)
    assert expected > 0
    assert abs(float(got) - float(expected)) <= 1e-5 * max(1.0, abs(float(expected)))
    # the heads matter: without them (every channel weighted 1) the distance differs
    with torch.no_grad():
        ref.lpips = False
        assert abs(float(ref(x * 2 - 1, y * 2 - 1).mean()) - float(expected)) > 1e-3


def test_gradient_reaches_the_reconstruction_only(tmp_path):
    trunk = torchvision.models.alexnet()
    torch.save(trunk.state_dict(), tmp_path / "alexnet.pth")
    loss_fn = PerceptualLoss("alex", str(tmp_path / "alexnet.pth"))
    rec = torch.rand(2, 3, 64, 64, requires_grad=True)
    loss_fn(rec, torch.rand(2, 3, 64, 64)).backward()
    assert rec.grad is not None and rec.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loss_fn.parameters())


def test_missing_backbone_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="vgg16-397923af.pth"):
        PerceptualLoss("vgg", str(tmp_path / "absent.pth"))
    with pytest.raises(FileNotFoundError, match="no file was given"):
        PerceptualLoss("vgg", "")
