#!/bin/bash
# node.sh start|kill|stop|cont|status <i>: controls one member of the fault run's cluster.
# POLIS (the binary) and FAULTS_CLUSTER (the folder bench/attacks/cluster3 prepared) come from
# bench/faults/run.
P=${POLIS:?set POLIS to the polis binary}
D=${FAULTS_CLUSTER:?set FAULTS_CLUSTER to the cluster folder}
op=$1; i=$2
case $op in
  start) echo "=== $(date +%T.%N) START" >> $D/node$i.log
         setsid $P server --config $D/node$i.toml >> $D/node$i.log 2>&1 < /dev/null &
         echo $! > $D/node$i.pid; echo "started node$i pid $!";;
  kill)  kill -KILL $(cat $D/node$i.pid); echo "=== $(date +%T.%N) SIGKILL" >> $D/node$i.log;;
  stop)  kill -STOP $(cat $D/node$i.pid); echo "=== $(date +%T.%N) SIGSTOP" >> $D/node$i.log;;
  cont)  kill -CONT $(cat $D/node$i.pid); echo "=== $(date +%T.%N) SIGCONT" >> $D/node$i.log;;
  status) curl -s -m 2 127.0.0.1:$((8482+i*100))/health; echo;;
esac
