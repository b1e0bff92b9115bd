# 1-epoch test accuracy of bench/nets/print-model.toml (or NET's) on its dataset, convlab beside
# PyTorch (its nn.Sequential as `convlab export --format pytorch` writes it), seeds 1-5
# interleaved:
#   bash bench/print_model_seeds.sh   (~6 min on 2 cores; DATA=../shared/datasets)
#   NET=print-model-args bash bench/print_model_seeds.sh
#   NET=mobilenet-cifar bash bench/print_model_seeds.sh   (CIFAR-10, ~11 min)
set -e
cd "$(dirname "$0")/.."
data=${DATA:-../shared/datasets}
net=${NET:-print-model}
dataset=$(sed -n 's/^dataset = "\(.*\)"/\1/p' bench/nets/$net.toml)
b=target/release/convlab; t=$(mktemp -d)
$b train bench/nets/$net.toml --data-dir $data --run-dir $t/net.run --quiet --set train.epochs=1 --set data.limit_train=64 --set data.limit_test=64 > /dev/null
$b export --format pytorch $t/net.run/last.ckpt -o $t/net.pth > /dev/null
for s in 1 2 3 4 5; do
  $b train bench/nets/$net.toml --data-dir $data --run-dir $t/c$s --quiet --set seed=$s > /dev/null
  c=$(python3 -c "import json; print(json.load(open('$t/c$s/summary.json'))['test_acc'])")
  p=$(python3 bench/pytorch_epoch.py --dataset $dataset --model $net --net-py $t/net.py --batch 64 --lr 1e-3 --data-dir $data --seed $s)
  echo "seed $s convlab $c pytorch $(python3 -c "import json,sys; print(json.loads(sys.argv[1])['test_acc'])" "$p")"
done
