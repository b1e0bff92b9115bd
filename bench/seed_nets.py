"""The seed notebooks' nets as their authors wrote them in PyTorch (named modules and a
forward), the reference for convlab's presets: same layers, same parameter counts.

    python3 bench/seed_nets.py        # prints each net's trainable parameter count

| preset        | net                                    | parameters |
| mnist-cnn     | seed 001, MNIST                        | 160,922    |
| cifar-cnn     | seed 001, CIFAR-10                     | 295,650    |
| vgg-blocks    | seed 002                               | 9,457,962  |
| bn-prelu-cnn  | seed 004, final net (Dropout2d p=0.35) | 434,722    |
| resnet18      | CIFAR ResNet-18 as commonly written    | 11,173,962 |
| vgg11         | VGG-11 with batch norm, CIFAR variant  | 9,231,114  |
| vgg16         | VGG-16 with batch norm, CIFAR variant  | 14,728,266 |
"""
import torch
import torch.nn.functional as F
from torch import nn


class Seed001(nn.Module):
    """Seed 001: two 3x3 'same' convs, each max-pooled then ReLU, fc 100, dropout 0.3."""

    def __init__(self, cin=1, c1=10, c2=32, side=28, act=None):
        super().__init__()
        # The seed's F.relu; `act` (a parameter-free module) swaps all three, as convlab's
        # model.activation does, without changing the state_dict's keys.
        self.act = act or nn.ReLU()
        self.conv1 = nn.Conv2d(cin, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc1 = nn.Linear(c2 * (side // 4) ** 2, 100)
        self.dropout = nn.Dropout(0.3)
        self.fc2 = nn.Linear(100, 10)

    def forward(self, x):
        x = self.act(F.max_pool2d(self.conv1(x), 2))
        x = self.act(F.max_pool2d(self.conv2(x), 2))
        x = self.dropout(self.act(self.fc1(x.flatten(1))))
        return self.fc2(x)


class Seed002(nn.Module):
    """Seed 002: three double-conv blocks, fc 4096-2048-256-10, no activation on the logits."""

    def __init__(self):
        super().__init__()
        layers, cin = [], 3
        for c1, c2 in [(16, 32), (64, 128), (128, 256)]:
            layers += [nn.Conv2d(cin, c1, 3, padding=1), nn.ReLU(), nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            cin = c2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(4096, 2048), nn.ReLU(), nn.Linear(2048, 256), nn.ReLU(), nn.Linear(256, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class Seed004(nn.Module):
    """Seed 004's final net: conv -> PReLU -> Dropout2d -> BN (-> pool), three times, then
    fc 100 -> PReLU -> dropout -> BatchNorm1d -> fc. The notebook wrote nn.Dropout2d(0,35),
    which is p=0; p=0.35 is what its author meant."""

    def __init__(self, p=0.35):
        super().__init__()
        self.conv1, self.prelu1, self.drop1, self.bn1 = nn.Conv2d(3, 16, 3, padding=1), nn.PReLU(), nn.Dropout2d(p), nn.BatchNorm2d(16)
        self.conv2, self.prelu2, self.drop2, self.bn2 = nn.Conv2d(16, 32, 3, padding=1), nn.PReLU(), nn.Dropout2d(p), nn.BatchNorm2d(32)
        self.conv3, self.prelu3, self.drop3, self.bn3 = nn.Conv2d(32, 64, 3, padding=1), nn.PReLU(), nn.Dropout2d(p), nn.BatchNorm2d(64)
        self.fc1, self.prelu4, self.drop4, self.bn4 = nn.Linear(4096, 100), nn.PReLU(), nn.Dropout(p), nn.BatchNorm1d(100)
        self.fc2 = nn.Linear(100, 10)

    def forward(self, x):
        x = self.bn1(self.drop1(self.prelu1(self.conv1(x))))
        x = F.max_pool2d(self.bn2(self.drop2(self.prelu2(self.conv2(x)))), 2)
        x = F.max_pool2d(self.bn3(self.drop3(self.prelu3(self.conv3(x)))), 2)
        x = self.bn4(self.drop4(self.prelu4(self.fc1(x.flatten(1)))))
        return self.fc2(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet18(nn.Module):
    """The CIFAR ResNet-18 as commonly written (3x3 stem without bias, no max-pool)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin, stages = 64, []
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            stages.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.linear = nn.Linear(512, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.linear(F.adaptive_avg_pool2d(x, 1).flatten(1))


class VGG(nn.Module):
    """VGG with batch norm, CIFAR variant as commonly written (conv -> BN -> ReLU, max-pool at
    each 0 of the plan, one linear head on the 512 features of a 32x32 input)."""

    PLANS = {
        "vgg11": [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        "vgg16": [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0],
    }

    def __init__(self, name):
        super().__init__()
        layers, cin = [], 3
        for c in self.PLANS[name]:
            if c == 0:
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(cin, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
                cin = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, 10)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


NETS = {
    "mnist-cnn": (lambda **kw: Seed001(**kw), (1, 28, 28)),
    "cifar-cnn": (lambda **kw: Seed001(3, 15, 45, 32, **kw), (3, 32, 32)),
    "vgg-blocks": (Seed002, (3, 32, 32)),
    "bn-prelu-cnn": (Seed004, (3, 32, 32)),
    "resnet18": (ResNet18, (3, 32, 32)),
    "vgg11": (lambda: VGG("vgg11"), (3, 32, 32)),
    "vgg16": (lambda: VGG("vgg16"), (3, 32, 32)),
}


def params(model):
    return sum(p.numel() for p in model.parameters())


def net_from_py(path):
    """The make_net of the nn.Sequential code `convlab export --format pytorch` writes beside
    a state_dict (the config's `model.layers`, freshly initialised on each call)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("exported_net", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_net

if __name__ == "__main__":
    for name, (make, _) in NETS.items():
        print(f"{name:<14} {params(make()):>11,}")

