cat /sys/devices/system/clocksource/clocksource0/current_clocksource /sys/devices/system/clocksource/clocksource0/available_clocksource
python3 -c "
from netem.vm import netns; netns.setup()"
ip netns exec client ping -q -c 300 -i 0.01 10.203.1.2 | tail -1
ip netns exec client tc qdisc add dev eth-edge root netem delay 20ms
ip netns exec client ping -q -c 300 -i 0.01 10.203.1.2 | tail -1
ip netns exec proxy tc qdisc add dev eth-edge root netem delay 10ms
ip netns exec client ping -q -c 300 -i 0.01 10.203.1.2 | tail -1
ip netns exec client ping -q -c 100 -i 0.05 10.203.1.2 | tail -1
