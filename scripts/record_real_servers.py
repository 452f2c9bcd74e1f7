#!/usr/bin/env python3
"""Record real server software the way the kubelet measures a container.

Run through scripts/record-real-servers.sh (which installs the packages); see
data/recordings/README.md for what is measured and how. Python 3.11 standard
library only, except the rabbitmq load client, which uses python3-pika (Debian).

Sub-commands:
  record   set up every instance (cgroup v1, network namespaces, directories),
           start it from a fresh data directory, drive its load and sample it
           every 10 s; writes samples.csv, samples.lp, events.csv, host.csv,
           instances.csv and versions.txt into --out.
  load     the load driver of one instance; `record` runs it inside the
           instance's client network namespace (not for direct use).
"""

import argparse
import gzip
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

CG = "/sys/fs/cgroup"
CONTROLLERS = ("cpuacct", "memory", "blkio")
CG_PARENT = "cad-rec"
NAMESPACE = "rec"
# A throttle far above any real rate: on cgroup v1 with blk-mq, blkio counts
# a cgroup's I/O only once a throttle rule exists for the device.
NO_LIMIT = 1 << 40
PG_BIN = "/usr/lib/postgresql/15/bin"

# pod name -> (class, container name, workload shape, batch)
INSTANCES = {
    "nginx-0": ("nginx", "nginx", "steady", 1),
    "nginx-1": ("nginx", "nginx", "bursty", 1),
    "nginx-2": ("nginx", "nginx", "idle", 2),
    "apache-0": ("apache", "httpd", "steady", 1),
    "apache-1": ("apache", "httpd", "idle", 2),
    "apache-2": ("apache", "httpd", "bursty", 2),
    "mysql-0": ("mysql", "mariadb", "steady", 1),
    "mysql-1": ("mysql", "mariadb", "batch", 1),
    "mysql-2": ("mysql", "mariadb", "idle", 2),
    "postgresql-0": ("postgresql", "postgres", "steady", 1),
    "postgresql-1": ("postgresql", "postgres", "bursty", 2),
    "postgresql-2": ("postgresql", "postgres", "batch", 2),
    "redis-0": ("redis", "redis", "steady", 1),
    "redis-1": ("redis", "redis", "bursty", 2),
    "memcached-0": ("memcached", "memcached", "steady", 1),
    "memcached-1": ("memcached", "memcached", "bursty", 2),
    "nginx-3": ("nginx", "nginx", "heavy", 3),
    "apache-3": ("apache", "httpd", "batch", 3),
    "mysql-3": ("mysql", "mariadb", "bursty", 3),
    "postgresql-3": ("postgresql", "postgres", "idle", 3),
    "redis-2": ("redis", "redis", "heavy", 3),
    "memcached-2": ("memcached", "memcached", "light", 3),
    "nginx-4": ("nginx", "nginx", "light", 4),
    "apache-4": ("apache", "httpd", "heavy", 4),
    "mysql-4": ("mysql", "mariadb", "heavy", 4),
    "postgresql-4": ("postgresql", "postgres", "light", 4),
    "redis-3": ("redis", "redis", "idle", 4),
    "memcached-3": ("memcached", "memcached", "heavy", 4),
    # batch 5: two more services outside the class list, a JVM web app and a message broker
    "tomcat-0": ("tomcat", "tomcat", "steady", 5),
    "tomcat-1": ("tomcat", "tomcat", "bursty", 5),
    "tomcat-2": ("tomcat", "tomcat", "heavy", 5),
    "rabbitmq-0": ("rabbitmq", "rabbitmq", "steady", 5),
    "rabbitmq-1": ("rabbitmq", "rabbitmq", "bursty", 5),
    "rabbitmq-2": ("rabbitmq", "rabbitmq", "idle", 5),
    # batch 6: the replicas of two Deployments (same server, same configuration, each with its
    # own client at the steady intensity, as a Service splits one load evenly over them)
    "nginx-r0": ("nginx", "nginx", "steady", 6),
    "nginx-r1": ("nginx", "nginx", "steady", 6),
    "nginx-r2": ("nginx", "nginx", "steady", 6),
    "apache-r0": ("apache", "httpd", "steady", 6),
    "apache-r1": ("apache", "httpd", "steady", 6),
    "apache-r2": ("apache", "httpd", "steady", 6),
    # batch 7: apache2 below its steady load, on an idle host
    "apache-5": ("apache", "httpd", "light", 7),
    "apache-6": ("apache", "httpd", "steady", 7),
    "nginx-5": ("nginx", "nginx", "light", 7),
    # batch 8: one steady instance of each class, each the first to read its
    # server's files (the page cache dropped before the batch)
    "nginx-6": ("nginx", "nginx", "steady", 8),
    "apache-7": ("apache", "httpd", "steady", 8),
    "mysql-5": ("mysql", "mariadb", "steady", 8),
    "postgresql-5": ("postgresql", "postgres", "steady", 8),
}
# Load intensity of the steady-type shapes: one unit of work every 5 s whose
# size (requests, queries, rate) is scaled by this factor and whose client
# concurrency is max(1, round(2 * sqrt(factor))), so "steady" is 2 clients.
INTENSITY = {"light": 0.25, "steady": 1.0, "heavy": 4.0}
PORTS = {
    "nginx": 80, "apache": 80, "mysql": 3306, "postgresql": 5432, "redis": 6379, "memcached": 11211,
    "tomcat": 8080, "rabbitmq": 5672,
}
PACKAGES = {
    "nginx": "nginx",
    "apache": "apache2",
    "mysql": "mariadb-server",
    "postgresql": "postgresql-15",
    "redis": "redis-server",
    "memcached": "memcached",
    "tomcat": "tomcat10",
    "rabbitmq": "rabbitmq-server",
}
TOMCAT_HOME = "/usr/share/tomcat10"
# The web application's dynamic page: a JSP that builds a small table (compiled by
# Jasper into the instance's work/ directory on its first request).
TOMCAT_JSP = """<%@ page contentType="text/html; charset=UTF-8" session="false" import="java.util.*" %>
<%
  int n = 20 + (int) (Math.random() * 80);
  Map<String, Long> rows = new TreeMap<>();
  Random r = new Random();
  for (int i = 0; i < n; i++) rows.put("item-" + r.nextInt(100000), r.nextLong() % 1000000L);
%><!DOCTYPE html><html><head><title>Orders</title></head><body><table>
<% for (Map.Entry<String, Long> e : rows.entrySet()) { %>
<tr><td><%= e.getKey() %></td><td><%= e.getValue() %></td><td><%= new Date() %></td></tr>
<% } %></table></body></html>
"""

# Metric names of cad's catalogue (cad-core/src/metric.rs), grouped by the
# Telegraf measurement that carries them.
CONTAINER_FIELDS = (
    "cpu_usage_nanocores",
    "cpu_usage_core_nanoseconds",
    "memory_usage_bytes",
    "memory_working_set_bytes",
    "memory_rss_bytes",
    "memory_page_faults",
    "memory_major_page_faults",
    "rootfs_used_bytes",
    "logsfs_used_bytes",
)
NETWORK_FIELDS = ("rx_bytes", "tx_bytes", "rx_errors", "tx_errors")
BLKIO_FIELDS = ("io_service_bytes_recursive_read", "io_service_bytes_recursive_write")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sh(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, **kw)


def du_bytes(path):
    """Allocated bytes under path, directories included (what `du -s -B1` says)."""
    total = 0
    stack = [path]
    while stack:
        p = stack.pop()
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        total += st.st_blocks * 512
        if os.path.isdir(p) and not os.path.islink(p):
            try:
                stack.extend(os.path.join(p, n) for n in os.listdir(p))
            except (FileNotFoundError, NotADirectoryError):
                pass
    return total


def read_kv(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(" ")
            out[k] = int(v)
    return out


def root_device():
    st = os.stat("/var/tmp")
    return f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"


def whole_disk(dev):
    """The whole-disk MAJ:MIN for a partition's MAJ:MIN (throttle rules take disks)."""
    base = f"/sys/dev/block/{dev}"
    if os.path.exists(os.path.join(base, "partition")):
        with open(os.path.join(os.path.realpath(base), "..", "dev")) as f:
            return f.read().strip()
    return dev


class Instance:
    def __init__(self, pod, index, root, duration, seed, log_max_bytes, log_max_files):
        self.log_max_bytes = log_max_bytes
        self.log_max_files = log_max_files
        self.pod = pod
        self.cls, self.container, self.shape, self.batch = INSTANCES[pod]
        self.index = index
        self.uid = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{pod}.{NAMESPACE}.cad-rec"))
        self.base = os.path.join(root, pod)
        self.image = os.path.join(self.base, "image")  # config: the image's files, not measured
        self.rootfs = os.path.join(self.base, "rootfs")  # stands for the writable layer
        self.data = os.path.join(self.base, "data")  # the data volume
        self.logs = os.path.join(self.base, "logs")  # the container's log files
        self.ns = f"cadrec-{index}"
        self.client_ns = f"cadrec-{index}-cl"
        self.ip = f"10.77.{index}.2"
        self.client_ip = f"10.77.{index}.1"
        self.port = PORTS[self.cls]
        self.duration = duration
        self.seed = seed
        self.cgroups = {c: os.path.join(CG, c, CG_PARENT, pod) for c in CONTROLLERS}
        self.client_cg = os.path.join(CG, "cpuacct", CG_PARENT, pod + "-client")
        self.procs = []  # long-running processes we started (server, load, pause)
        self.pause = None
        self.t0 = None  # wall-clock start (s) of the first process in the cgroup
        self.events = []  # (time_ms, event, detail)
        self.failed = None
        self.done = threading.Event()
        self.last_cpu = None
        self.log_writer = None  # set in setup

    # ----------------------------------------------------------------- set-up
    def event(self, name, detail=""):
        self.events.append((int(time.time() * 1000), name, detail))
        log(f"{self.pod}: {name} {detail}")

    def setup(self, disk):
        self.teardown_leftovers()
        for d in (self.image, self.rootfs, self.data, self.logs):
            os.makedirs(d)
        os.chmod(self.base, 0o755)
        for d in ("run", "tmp", "cache"):
            os.makedirs(os.path.join(self.rootfs, d))
        os.chmod(os.path.join(self.rootfs, "tmp"), 0o1777)
        # network: pause netns (server side) and client netns joined by a veth pair
        sh("ip", "netns", "add", self.ns)
        sh("ip", "netns", "add", self.client_ns)
        a, b = f"crec{self.index}a", f"crec{self.index}b"
        sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        sh("ip", "link", "set", a, "netns", self.ns)
        sh("ip", "link", "set", b, "netns", self.client_ns)
        for ns, dev, ip in ((self.ns, a, self.ip), (self.client_ns, b, self.client_ip)):
            sh("ip", "-n", ns, "link", "set", dev, "name", "eth0")
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        # the "pause container": holds the netns; its /proc/PID/net/dev is the pod's eth0
        self.pause = subprocess.Popen(["ip", "netns", "exec", self.ns, "sleep", "infinity"])
        for path in list(self.cgroups.values()) + [self.client_cg]:
            os.makedirs(path)
        for f in ("blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device"):
            with open(os.path.join(self.cgroups["blkio"], f), "w") as fh:
                fh.write(f"{disk} {NO_LIMIT}\n")
        self.log_writer = CriLogWriter(os.path.join(self.logs, "container.log"), self.log_max_bytes,
                                       self.log_max_files)
        self.write_config()

    def teardown_leftovers(self):
        for ns in (self.ns, self.client_ns):
            sh("ip", "netns", "del", ns, check=False, stderr=subprocess.DEVNULL)
        for path in list(self.cgroups.values()) + [self.client_cg]:
            kill_cgroup(path)
        if os.path.exists(self.base):
            shutil.rmtree(self.base)

    def write_config(self):
        html = os.path.join(self.data, "html")
        if self.cls == "tomcat":
            # the web application (ROOT context) on the data volume, as nginx's and apache's site
            html = os.path.join(self.data, "webapps", "ROOT")
        if self.cls in ("nginx", "apache", "tomcat"):
            os.makedirs(html)
            rng = random.Random(self.seed)
            # a small static site: the default page, a 4 KiB page, a 100 KiB image, a 1 MiB download
            with open(os.path.join(html, "index.html"), "w") as f:
                f.write("<!DOCTYPE html><html><head><title>Welcome</title></head><body>" + "x" * 500 + "</body></html>\n")
            for name, size in (("page.html", 4096), ("img.jpg", 100 * 1024), ("big.bin", 1024 * 1024)):
                with open(os.path.join(html, name), "wb") as f:
                    f.write(bytes(rng.getrandbits(8) for _ in range(size)))
        if self.cls == "nginx":
            cache = os.path.join(self.rootfs, "cache")
            temps = "\n".join(
                f"  {k}_temp_path {cache}/{k}_temp;" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            )
            conf = f"""user www-data;
worker_processes auto;
pid {self.rootfs}/run/nginx.pid;
error_log /dev/stderr notice;
events {{ worker_connections 1024; }}
http {{
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  log_format main '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for"';
  access_log /dev/stdout main;
{temps}
  sendfile on;
  keepalive_timeout 65;
  server {{
    listen {self.ip}:80;
    root {html};
    index index.html;
  }}
}}
"""
            with open(os.path.join(self.image, "nginx.conf"), "w") as f:
                f.write(conf)
        elif self.cls == "apache":
            mods = [
                "mpm_event", "authz_core", "authz_host", "authz_user", "authn_core", "authn_file",
                "auth_basic", "access_compat", "alias", "dir", "mime", "autoindex", "deflate",
                "filter", "env", "setenvif", "reqtimeout", "status", "negotiation",
            ]
            loads = "\n".join(f"LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so" for m in mods)
            conf = f"""{loads}
ServerName {self.pod}
Listen {self.ip}:80
PidFile {self.rootfs}/run/httpd.pid
DefaultRuntimeDir {self.rootfs}/run
Mutex file:{self.rootfs}/run default
User www-data
Group www-data
TypesConfig /etc/mime.types
DocumentRoot {html}
<Directory {html}>
  Require all granted
</Directory>
DirectoryIndex index.html
ErrorLog /proc/self/fd/2
LogLevel warn
LogFormat "%h %l %u %t \\"%r\\" %>s %b \\"%{{Referer}}i\\" \\"%{{User-Agent}}i\\"" combined
CustomLog /proc/self/fd/1 combined
"""
            with open(os.path.join(self.image, "httpd.conf"), "w") as f:
                f.write(conf)
        elif self.cls == "tomcat":
            self.tomcat_config(html)
        elif self.cls == "rabbitmq":
            self.rabbitmq_config()
        elif self.cls == "mysql":
            for d in (self.data, os.path.join(self.rootfs, "run"), os.path.join(self.rootfs, "tmp")):
                shutil.chown(d, "mysql", "mysql")
        elif self.cls == "postgresql":
            shutil.chown(self.data, "postgres", "postgres")
            os.chmod(self.data, 0o700)
            shutil.chown(os.path.join(self.rootfs, "run"), "postgres", "postgres")

    def tomcat_config(self, root_app):
        """CATALINA_BASE in the writable layer: conf/ (Debian's files, the image's) and
        webapps/ (the application on the data volume) linked in; logs/, work/, temp/ real."""
        with open(os.path.join(root_app, "app.jsp"), "w") as f:
            f.write(TOMCAT_JSP)
        conf = os.path.join(self.image, "conf")
        os.makedirs(conf)
        for n in os.listdir("/etc/tomcat10"):
            src = os.path.join("/etc/tomcat10", n)
            if os.path.isfile(src) and n != "server.xml":
                shutil.copy(src, conf)
                shutil.chown(os.path.join(conf, n), "root", "tomcat")  # mode 640, as Debian's
        with open("/etc/tomcat10/server.xml") as f:
            server = f.read()
        # Debian's default connector, bound to the pod's address
        old = '<Connector port="8080" protocol="HTTP/1.1"\n'
        if server.count(old) != 1:
            raise RuntimeError("unexpected /etc/tomcat10/server.xml: no single HTTP connector on 8080")
        server = server.replace(old, f'<Connector port="8080" address="{self.ip}" protocol="HTTP/1.1"\n')
        with open(os.path.join(conf, "server.xml"), "w") as f:
            f.write(server)
        shutil.chown(os.path.join(conf, "server.xml"), "root", "tomcat")
        # Tomcat writes per-context descriptors here on deployment (Debian: /etc/tomcat10/Catalina)
        os.makedirs(os.path.join(conf, "Catalina", "localhost"))
        for d in (os.path.join(conf, "Catalina"), os.path.join(conf, "Catalina", "localhost")):
            shutil.chown(d, "tomcat", "tomcat")
        base = os.path.join(self.rootfs, "catalina")
        os.makedirs(base)
        os.symlink(conf, os.path.join(base, "conf"))
        os.symlink(os.path.join(self.data, "webapps"), os.path.join(base, "webapps"))
        for d in ("logs", "work", "temp", "lib"):
            os.makedirs(os.path.join(base, d))
            shutil.chown(os.path.join(base, d), "tomcat", "tomcat")
        for d, _, files in os.walk(os.path.join(self.data, "webapps")):
            shutil.chown(d, "tomcat", "tomcat")
            for n in files:
                shutil.chown(os.path.join(d, n), "tomcat", "tomcat")

    def rabbitmq_config(self):
        with open(os.path.join(self.image, "rabbitmq.conf"), "w") as f:
            f.write(f"listeners.tcp.default = {self.ip}:5672\n"
                    "loopback_users = none\n"
                    "log.console = true\nlog.console.level = info\nlog.file = false\n")
        with open(os.path.join(self.image, "enabled_plugins"), "w") as f:
            f.write("[].\n")
        open(os.path.join(self.image, "rabbitmq-env.conf"), "w").close()
        for d in (self.data, os.path.join(self.rootfs, "run"), os.path.join(self.rootfs, "tmp")):
            shutil.chown(d, "rabbitmq", "rabbitmq")

    # ------------------------------------------------------------ processes
    def in_cgroup(self, paths):
        def join():
            pid = str(os.getpid())
            for p in paths:
                with open(os.path.join(p, "cgroup.procs"), "w") as f:
                    f.write(pid)
            os.setsid()

        return join

    def run_in_container(self, cmd, wait):
        """Runs cmd in the instance's cgroups and netns; its stdout and stderr go
        through pipes to the log writer (the runtime's shim), outside the cgroup."""
        p = subprocess.Popen(
            ["ip", "netns", "exec", self.ns] + cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            preexec_fn=self.in_cgroup(self.cgroups.values()),
        )
        readers = [
            threading.Thread(target=self.log_writer.copy, args=(p.stdout, "stdout"), daemon=True),
            threading.Thread(target=self.log_writer.copy, args=(p.stderr, "stderr"), daemon=True),
        ]
        for r in readers:
            r.start()
        if wait:
            rc = p.wait()
            for r in readers:
                r.join()
            if rc != 0:
                raise RuntimeError(f"{cmd[0]} exited with {rc}")
        else:
            self.procs.append(p)
        return p

    def init_and_server(self):
        """The container's entrypoint: initialise the data directory, then the server."""
        if self.cls == "nginx":
            return ["nginx", "-e", "/dev/stderr", "-c", f"{self.image}/nginx.conf", "-g", "daemon off;"]
        if self.cls == "apache":
            return ["apache2", "-f", f"{self.image}/httpd.conf", "-DFOREGROUND"]
        if self.cls == "mysql":
            self.event("init_start", "mariadb-install-db")
            self.run_in_container(
                [
                    "mariadb-install-db", "--no-defaults", f"--datadir={self.data}", "--user=mysql",
                    "--skip-test-db", "--auth-root-authentication-method=socket",
                ],
                wait=True,
            )
            self.event("init_end")
            return [
                "mariadbd", "--no-defaults", f"--datadir={self.data}", "--user=mysql",
                f"--bind-address={self.ip}", "--port=3306", f"--socket={self.rootfs}/run/mysqld.sock",
                f"--pid-file={self.rootfs}/run/mysqld.pid", f"--tmpdir={self.rootfs}/tmp", "--skip-name-resolve",
            ]
        if self.cls == "postgresql":
            self.event("init_start", "initdb")
            self.run_in_container(
                [
                    "runuser", "-u", "postgres", "--", f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres",
                    "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
                ],
                wait=True,
            )
            with open(os.path.join(self.data, "pg_hba.conf"), "a") as f:
                f.write("host all all 10.77.0.0/16 trust\n")
            self.event("init_end")
            return [
                "runuser", "-u", "postgres", "--", f"{PG_BIN}/postgres", "-D", self.data,
                "-c", f"listen_addresses={self.ip}", "-c", f"unix_socket_directories={self.rootfs}/run",
            ]
        if self.cls == "redis":
            return [
                "redis-server", "--bind", self.ip, "--port", "6379", "--protected-mode", "no", "--dir", self.data,
                "--pidfile", f"{self.rootfs}/run/redis.pid", "--daemonize", "no", "--logfile", "",
            ]
        if self.cls == "memcached":
            return ["memcached", "-u", "memcache", "-l", self.ip, "-p", "11211", "-m", "64"]
        if self.cls == "tomcat":
            # catalina.sh run: the JVM in the foreground (exec), JVM defaults (no -Xmx), Debian's JAVA_OPTS
            base = os.path.join(self.rootfs, "catalina")
            return [
                "runuser", "-u", "tomcat", "--", "env", f"CATALINA_HOME={TOMCAT_HOME}", f"CATALINA_BASE={base}",
                f"CATALINA_TMPDIR={base}/temp", "JAVA_OPTS=-Djava.awt.headless=true",
                f"{TOMCAT_HOME}/bin/catalina.sh", "run",
            ]
        if self.cls == "rabbitmq":
            # the node logs to stdout, keeps its database and Erlang cookie on the data volume
            # (HOME, as the official image's /var/lib/rabbitmq); epmd runs in the container too
            return [
                "runuser", "-u", "rabbitmq", "--", "env", f"HOME={self.data}",
                f"RABBITMQ_NODENAME={self.pod}@localhost", f"RABBITMQ_CONF_ENV_FILE={self.image}/rabbitmq-env.conf",
                f"RABBITMQ_CONFIG_FILE={self.image}/rabbitmq.conf",
                f"RABBITMQ_ADVANCED_CONFIG_FILE={self.image}/advanced.config",
                f"RABBITMQ_ENABLED_PLUGINS_FILE={self.image}/enabled_plugins", f"RABBITMQ_MNESIA_BASE={self.data}",
                f"RABBITMQ_LOG_BASE={self.rootfs}/tmp", "RABBITMQ_LOGS=-",
                f"RABBITMQ_PID_FILE={self.rootfs}/run/rabbitmq.pid",
                "/usr/lib/rabbitmq/bin/rabbitmq-server",
            ]
        raise ValueError(self.cls)

    def wait_ready(self, timeout=180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = subprocess.run(
                ["ip", "netns", "exec", self.client_ns, "python3", "-c",
                 f"import socket; socket.create_connection(('{self.ip}', {self.port}), 2).close()"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            if r.returncode == 0:
                return
            if self.procs and self.procs[0].poll() is not None:
                raise RuntimeError(f"server exited with {self.procs[0].returncode}")
            time.sleep(0.5)
        raise RuntimeError("server not ready in time")

    def post_start(self):
        if self.cls == "mysql":
            sql = (
                "CREATE USER 'bench'@'%' IDENTIFIED BY 'bench'; GRANT ALL ON *.* TO 'bench'@'%';"
                "CREATE DATABASE app;"
            )
            sh("mariadb", f"--socket={self.rootfs}/run/mysqld.sock", "-u", "root", "-e", sql)

    def lifecycle(self, script):
        """Starts the instance, waits for it, runs its load until the duration is up."""
        try:
            self.event("start", f"shape={self.shape}")
            server = self.init_and_server()
            self.run_in_container(server, wait=False)
            name = server[0] if server[0] != "runuser" else server[4]
            if name == "env":
                name = next(os.path.basename(a) for a in server[5:] if "=" not in a)
            self.event("server_start", name)
            self.wait_ready()
            self.event("ready")
            self.post_start()
            remaining = self.duration - (time.time() - self.t0)
            cmd = [
                "ip", "netns", "exec", self.client_ns, sys.executable, script, "load",
                "--cls", self.cls, "--shape", self.shape, "--host", self.ip, "--port", str(self.port),
                "--seconds", str(max(1, int(remaining))), "--seed", str(self.seed),
            ]
            events_path = os.path.join(self.base, "load-events.txt")
            with open(events_path, "ab") as out:
                p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=self.in_cgroup([self.client_cg]))
            self.procs.append(p)
            self.event("load_start", self.shape)
            while time.time() - self.t0 < self.duration:
                if self.procs[0].poll() is not None:
                    raise RuntimeError(f"server exited with {self.procs[0].returncode}")
                time.sleep(1)
        except Exception as e:  # recorded, the others go on
            self.failed = str(e)
            self.event("failed", str(e).replace(",", ";"))
        finally:
            self.done.set()

    def load_events(self):
        """Load phases the driver printed: lines `time_ms event detail`."""
        path = os.path.join(self.base, "load-events.txt")
        if not os.path.exists(path):
            return []
        out = []
        with open(path) as f:
            for line in f:
                parts = line.strip().split(" ", 2)
                if len(parts) >= 2 and parts[0].isdigit():
                    out.append((int(parts[0]), parts[1], parts[2] if len(parts) > 2 else ""))
        return out

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for path in list(self.cgroups.values()) + [self.client_cg]:
            kill_cgroup(path)
        if self.pause:
            self.pause.terminate()
            self.pause.wait()
        for ns in (self.ns, self.client_ns):
            sh("ip", "netns", "del", ns, check=False)

    # --------------------------------------------------------------- sample
    def sample(self):
        """One kubelet-style reading: (time_ms, {measurement: {field: value}})."""
        now = time.time()
        mono = time.monotonic()
        cpu = int(open(os.path.join(self.cgroups["cpuacct"], "cpuacct.usage")).read())
        mem = os.path.join(self.cgroups["memory"], "memory.")
        usage = int(open(mem + "usage_in_bytes").read())
        stat = read_kv(mem + "stat")
        c = {
            "cpu_usage_core_nanoseconds": cpu,
            "memory_usage_bytes": usage,
            # cAdvisor (cgroup v1): working set = usage - total_inactive_file, floored at 0
            "memory_working_set_bytes": max(0, usage - stat["total_inactive_file"]),
            "memory_rss_bytes": stat["total_rss"],
            "memory_page_faults": stat["total_pgfault"],
            "memory_major_page_faults": stat["total_pgmajfault"],
            "rootfs_used_bytes": du_bytes(self.rootfs),
            "logsfs_used_bytes": du_bytes(self.logs),
        }
        if self.last_cpu is not None:
            cpu0, mono0 = self.last_cpu
            if mono > mono0 and cpu >= cpu0:
                # the kubelet's derivation: delta of usage over delta of time
                c["cpu_usage_nanocores"] = round((cpu - cpu0) / (mono - mono0))
        self.last_cpu = (cpu, mono)
        net = {}
        with open(f"/proc/{self.pause.pid}/net/dev") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name.strip() == "eth0":
                    v = [int(x) for x in rest.split()]
                    net = {"rx_bytes": v[0], "rx_errors": v[2], "tx_bytes": v[8], "tx_errors": v[10]}
        read = write = 0
        with open(os.path.join(self.cgroups["blkio"], "blkio.throttle.io_service_bytes")) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[1] == "Read":
                    read += int(parts[2])
                elif len(parts) == 3 and parts[1] == "Write":
                    write += int(parts[2])
        return int(now * 1000), {
            "container": c,
            "network": net,
            "volume": {"used_bytes": du_bytes(self.data)},
            "blkio": {"io_service_bytes_recursive_read": read, "io_service_bytes_recursive_write": write},
        }


class CriLogWriter:
    """The container runtime's side of a container's stdout and stderr.

    Writes each line as containerd's CRI log format (`<RFC3339Nano> <stream> F
    <line>`, the files under /var/log/pods that the kubelet's logs stats
    measure) from this process, outside the container's cgroup, as the shim
    does; so the log's page cache and write-back are not charged to the
    container. Rotates as the kubelet does: past max_bytes the file is renamed
    with a timestamp, older rotated files are gzipped, and at most max_files
    files are kept.
    """

    def __init__(self, path, max_bytes, max_files):
        self.path = path
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.lock = threading.Lock()
        self.f = open(path, "ab")

    def copy(self, pipe, stream):
        tag = f" {stream} F ".encode()
        for line in iter(pipe.readline, b""):
            ns = time.time_ns()
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)).encode() + b".%09dZ" % (ns % 10**9)
            with self.lock:
                self.f.write(ts + tag + line.rstrip(b"\n") + b"\n")
                self.f.flush()
                if self.f.tell() >= self.max_bytes:
                    self.rotate()
        pipe.close()

    def rotate(self):
        self.f.close()
        os.replace(self.path, f"{self.path}.{time.strftime('%Y%m%d-%H%M%S')}.{time.time_ns() % 10**9:09d}")
        d, base = os.path.split(self.path)
        rotated = sorted(n for n in os.listdir(d) if n.startswith(base + "."))
        # the newest rotated file stays plain; older ones are compressed
        for n in rotated[:-1]:
            if not n.endswith(".gz"):
                src = os.path.join(d, n)
                with open(src, "rb") as fi, gzip.open(src + ".gz", "wb") as fo:
                    shutil.copyfileobj(fi, fo)
                os.remove(src)
        rotated = sorted(n for n in os.listdir(d) if n.startswith(base + "."))
        for n in rotated[: max(0, len(rotated) - (self.max_files - 1))]:
            os.remove(os.path.join(d, n))
        self.f = open(self.path, "ab")


def kill_cgroup(path):
    if not os.path.isdir(path):
        return
    for _ in range(50):
        try:
            pids = [int(x) for x in open(os.path.join(path, "cgroup.procs")).read().split()]
        except FileNotFoundError:
            return
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    try:
        os.rmdir(path)
    except OSError as e:
        log(f"cannot remove {path}: {e}")


def lp_escape(v):
    return v.replace(",", "\\,").replace(" ", "\\ ").replace("=", "\\=")


def line_protocol(inst, t_ms, s, node):
    ts = t_ms * 1_000_000
    tags = f"namespace={NAMESPACE},node_name={lp_escape(node)},pod_name={inst.pod}"
    out = []

    def fields(d):
        return ",".join(f"{k}={int(v)}i" for k, v in d.items())

    c = {k: s["container"][k] for k in CONTAINER_FIELDS if k in s["container"]}
    out.append(f"kubernetes_pod_container,container_name={inst.container},{tags} {fields(c)} {ts}")
    if s["network"]:
        out.append(f"kubernetes_pod_network,{tags} {fields(s['network'])} {ts}")
    out.append(f"kubernetes_pod_volume,{tags},volume_name=data {fields(s['volume'])} {ts}")
    out.append(
        f"docker_container_blkio,container_name={NAMESPACE}_{inst.pod}_{inst.container},device=total,"
        f"io.kubernetes.container.name={inst.container},io.kubernetes.pod.name={inst.pod},"
        f"io.kubernetes.pod.namespace={NAMESPACE},io.kubernetes.pod.uid={inst.uid} {fields(s['blkio'])} {ts}"
    )
    return out


def csv_rows(inst, t_ms, s):
    rows = []
    for group in ("container", "network", "volume", "blkio"):
        for k, v in s[group].items():
            rows.append(f"{t_ms},{NAMESPACE},{inst.pod},{inst.container},{k},{int(v)}")
    return rows


def host_load():
    with open("/proc/loadavg") as f:
        la = f.read().split()
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    return float(la[0]), float(la[1]), cpu


def cmd_record(args):
    if os.geteuid() != 0:
        sys.exit("record: must run as root (cgroups, network namespaces)")
    pods = args.instances or list(INSTANCES)
    for p in pods:
        if p not in INSTANCES:
            sys.exit(f"unknown instance {p!r}; known: {' '.join(INSTANCES)}")
    if not 60 <= args.duration <= 86400:
        sys.exit("--duration must be 60..86400 seconds")
    if not 2**16 <= args.log_max_bytes <= 2**30 or not 2 <= args.log_max_files <= 100:
        sys.exit("--log-max-bytes must be 64 KiB..1 GiB and --log-max-files 2..100")
    if not 1 <= args.interval <= 60:
        sys.exit("--interval must be 1..60 seconds")
    os.makedirs(args.out, exist_ok=True)
    script = os.path.abspath(__file__)
    disk = whole_disk(root_device())
    node = socket.gethostname()
    for c in CONTROLLERS:
        os.makedirs(os.path.join(CG, c, CG_PARENT), exist_ok=True)
    os.makedirs(args.root, exist_ok=True)
    os.chmod(args.root, 0o755)
    insts = [Instance(p, list(INSTANCES).index(p) + 1, args.root, args.duration, args.seed + i,
                      args.log_max_bytes, args.log_max_files)
             for i, p in enumerate(pods)]
    tag = args.tag or time.strftime("%Y%m%dT%H%M%S")
    paths = {k: os.path.join(args.out, f"{k}-{tag}.{ext}") for k, ext in
             (("samples", "csv"), ("samples_lp", "lp"), ("host", "csv"), ("events", "csv"), ("instances", "csv"))}
    partial = {k: v + ".partial" for k, v in paths.items()}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threads = []
    try:
        for inst in insts:
            inst.setup(disk)
        with open(partial["samples"], "w") as fcsv, open(partial["samples_lp"], "w") as flp, \
                open(partial["host"], "w") as fhost:
            fcsv.write("time_ms,namespace,pod,container,metric,value\n")
            fhost.write("time_ms,load1,load5,host_cpu_busy_fraction\n")
            next_sample = {}
            last_host = None
            first = time.time()
            next_host = first
            for k, inst in enumerate(insts):
                # staggered starts, as pods of a rollout
                start_at = first + k * args.stagger
                while time.time() < start_at and not stop.is_set():
                    time.sleep(0.1)
                    # keep sampling those already started
                    sample_due(insts, next_sample, fcsv, flp, node, args.interval)
                t = threading.Thread(target=inst.lifecycle, args=(script,), daemon=True)
                inst.t0 = time.time()
                next_sample[inst.pod] = inst.t0
                t.start()
                threads.append(t)
            while not stop.is_set() and not all(i.done.is_set() for i in insts):
                sample_due(insts, next_sample, fcsv, flp, node, args.interval)
                if time.time() >= next_host:
                    l1, l5, cpu = host_load()
                    busy = ""
                    if last_host:
                        d = [a - b for a, b in zip(cpu, last_host)]
                        idle = d[3] + d[4]
                        busy = f"{1 - idle / sum(d):.3f}" if sum(d) else ""
                    last_host = cpu
                    fhost.write(f"{int(time.time() * 1000)},{l1},{l5},{busy}\n")
                    fhost.flush()
                    while next_host <= time.time():
                        next_host += args.interval
                time.sleep(0.2)
    finally:
        for inst in insts:
            try:
                inst.stop()
            except Exception as e:  # go on tearing down the others
                log(f"{inst.pod}: stop failed: {e}")
        for t in threads:
            t.join(timeout=5)
    with open(partial["events"], "w") as f:
        f.write("time_ms,pod,event,detail\n")
        for inst in insts:
            for t_ms, name, detail in sorted(inst.events + inst.load_events()):
                f.write(f"{t_ms},{inst.pod},{name},{detail.replace(',', ';')}\n")
    with open(partial["instances"], "w") as f:
        f.write("namespace,pod,uid,container,class,shape,package,version,start_ms,duration_s,failed\n")
        for inst in insts:
            pkg = PACKAGES[inst.cls]
            ver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True).stdout
            f.write(f"{NAMESPACE},{inst.pod},{inst.uid},{inst.container},{inst.cls},{inst.shape},{pkg},{ver},"
                    f"{int(inst.t0 * 1000)},{args.duration},{(inst.failed or '').replace(',', ';')}\n")
    for k in paths:
        os.replace(partial[k], paths[k])
    if not args.keep:
        for inst in insts:
            shutil.rmtree(inst.base, ignore_errors=True)
    log(f"wrote {', '.join(paths.values())}")
    failed = [i.pod for i in insts if i.failed]
    if failed:
        sys.exit(f"failed instances: {' '.join(failed)}")


def write_sample(inst, fcsv, flp, node):
    try:
        t_ms, s = inst.sample()
    except (OSError, ValueError, KeyError) as e:
        log(f"{inst.pod}: sample failed: {e}")
        return
    fcsv.write("\n".join(csv_rows(inst, t_ms, s)) + "\n")
    flp.write("\n".join(line_protocol(inst, t_ms, s, node)) + "\n")


def sample_due(insts, next_sample, fcsv, flp, node, interval):
    now = time.time()
    for inst in insts:
        due = next_sample.get(inst.pod)
        # samples at 0, 10, ... s up to but excluding the duration
        if due is None or inst.done.is_set() or now < due or due >= inst.t0 + inst.duration:
            continue
        write_sample(inst, fcsv, flp, node)
        while next_sample[inst.pod] <= now:
            next_sample[inst.pod] += interval
    fcsv.flush()
    flp.flush()


# ------------------------------------------------------------------ load
class Load:
    """The load driver of one instance, run in its client netns."""

    def __init__(self, args):
        self.a = args
        self.rng = random.Random(args.seed)
        self.start = time.monotonic()
        self.deadline = self.start + args.seconds
        self.stopping = threading.Event()
        self.child = None
        self.amqp = None  # rabbitmq: the client's connection and channel
        self.amqp_ch = None
        signal.signal(signal.SIGTERM, self.on_term)

    def on_term(self, *_):
        self.stopping.set()
        if self.child and self.child.poll() is None:
            self.child.terminate()

    def left(self):
        return self.deadline - time.monotonic()

    def elapsed(self):
        return time.monotonic() - self.start

    def event(self, name, detail=""):
        print(f"{int(time.time() * 1000)} {name} {detail}", flush=True)

    def run(self, cmd, timeout=None):
        if self.stopping.is_set() or self.left() <= 0:
            return
        self.child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _, err = self.child.communicate(timeout=timeout if timeout else max(1, self.left()))
        except subprocess.TimeoutExpired:
            self.child.kill()
            _, err = self.child.communicate()
        if self.child.returncode not in (0, -15, -9) and not self.stopping.is_set():
            self.event("tool_error", f"{cmd[0]} rc={self.child.returncode} {err.decode(errors='replace')[:200]!r}")

    def sleep(self, s):
        """Sleeps up to s seconds; false once the run is over (time up or told to stop)."""
        self.stopping.wait(max(0, min(s, self.left())))
        return self.left() > 0 and not self.stopping.is_set()

    def probe_loop(self):
        # a kubelet tcpSocket liveness probe every 10 s
        while not self.stopping.is_set() and self.left() > 0:
            try:
                socket.create_connection((self.a.host, self.a.port), 2).close()
            except OSError:
                pass
            self.sleep(10)

    # one unit of work per class, "small" (a few seconds at a modest rate, scaled by the
    # shape's intensity k: see INTENSITY) or "big" (heavy)
    def unit(self, big, k=1.0):
        a, cls = self.a, self.a.cls
        c = max(1, round(2 * k**0.5))  # client concurrency: 1 light, 2 steady, 4 heavy

        def n(lo, hi):  # a scaled random amount, at least 1
            return max(1, round(self.rng.randint(lo, hi) * k))

        if cls in ("nginx", "apache"):
            path = self.rng.choices(["/", "/page.html", "/img.jpg", "/big.bin"], [50, 30, 15, 5])[0]
            if big:
                self.run(["ab", "-q", "-k", "-n", "3000", "-c", "16", f"http://{a.host}{path}"])
            else:
                self.run(["ab", "-q", "-n", str(max(c, n(20, 80))), "-c", str(c), f"http://{a.host}{path}"])
        elif cls == "mysql":
            common = ["mysqlslap", "-h", a.host, "-u", "bench", "-pbench", "--auto-generate-sql",
                      "--auto-generate-sql-add-autoincrement"]
            if big:
                self.run(common + ["--concurrency=8", "--iterations=1", "--number-of-queries=4000",
                                   "--auto-generate-sql-load-type=mixed", "--auto-generate-sql-write-number=2000"])
            else:
                self.run(common + [f"--concurrency={c}", "--iterations=1",
                                   f"--number-of-queries={max(c, round(100 * k))}",
                                   "--auto-generate-sql-load-type=mixed"])
                # the application's own table grows, as a real database's data does
                rows = ",".join(f"(NOW(),{self.rng.randint(0, 10**6)},REPEAT('x',{self.rng.randint(50, 400)}))"
                                for _ in range(max(1, round(50 * k))))
                self.run(["mariadb", "-h", a.host, "-u", "bench", "-pbench", "app", "-e",
                          "CREATE TABLE IF NOT EXISTS events (id BIGINT AUTO_INCREMENT PRIMARY KEY, t DATETIME,"
                          " k INT, v TEXT, KEY(k)); INSERT INTO events (t,k,v) VALUES " + rows + ";"
                          f" SELECT COUNT(*), MAX(k) FROM events WHERE k > {self.rng.randint(0, 10**6)};"])
        elif cls == "postgresql":
            base = ["pgbench", "-h", a.host, "-U", "postgres", "-n"]
            if big:
                self.run(base + ["-c", "8", "-j", "2", "-T", "20", "postgres"])
            else:
                self.run(base + ["-c", str(c), "-j", str(min(c, 2)), "-R", str(max(1, round(20 * k))), "-T", "5",
                                 "postgres"])
        elif cls == "redis":
            if big:
                self.run(["redis-benchmark", "-h", a.host, "-q", "-n", "100000", "-c", "32", "-P", "8",
                          "-d", "256", "-r", "1000000", "-t", "set,get,incr,lpush,hset"])
            else:
                self.run(["redis-benchmark", "-h", a.host, "-q", "-n", str(max(c, n(300, 1500))), "-c", str(c),
                          "-d", "64", "-r", "100000", "-t", "set,get,incr,lpush"])
        elif cls == "memcached":
            self.memcached_unit(big, k)
        elif cls == "tomcat":
            # the application: its JSP page and its static files
            path = self.rng.choices(["/", "/app.jsp", "/page.html", "/img.jpg", "/big.bin"], [25, 40, 20, 10, 5])[0]
            url = f"http://{a.host}:{a.port}{path}"
            if big:
                self.run(["ab", "-q", "-k", "-n", "3000", "-c", "16", url])
            else:
                self.run(["ab", "-q", "-n", str(max(c, n(20, 80))), "-c", str(c), url])
        elif cls == "rabbitmq":
            self.rabbitmq_unit(big, k)

    def rabbitmq_unit(self, big, k=1.0):
        """An application's producer and consumer on one long-lived AMQP connection (pika,
        python3-pika): publishes persistent 100 B-4 KiB messages to a durable work queue and
        consumes them with acks. Small: 20-80 messages (scaled by k) at the rate of the unit;
        big: 5,000 messages as fast as they go, then consumed."""
        try:
            import pika  # python3-pika (Debian), only for this class
        except ImportError as e:
            self.event("tool_error", f"python3-pika missing: {e}")
            self.sleep(5)
            return

        if self.amqp is None or not self.amqp.is_open:
            try:
                params = pika.ConnectionParameters(self.a.host, self.a.port, heartbeat=0,
                                                   credentials=pika.PlainCredentials("guest", "guest"))
                self.amqp = pika.BlockingConnection(params)
                ch = self.amqp.channel()
                ch.queue_declare("tasks", durable=True)
                ch.basic_qos(prefetch_count=50)
                self.amqp_ch = ch
            except Exception as e:  # pika's errors have no common base beyond this
                self.amqp = None
                self.event("tool_error", f"amqp connect {type(e).__name__} {e}")
                return
        ch = self.amqp_ch
        count = 5000 if big else max(1, round(self.rng.randint(20, 80) * k))
        props = pika.BasicProperties(delivery_mode=2, content_type="application/json")
        try:
            for i in range(count):
                if self.stopping.is_set():
                    return
                body = b"{" + b"x" * self.rng.randint(100, 4096) + b"}"
                ch.basic_publish("", "tasks", body, props)
            got = 0
            for method, _, _ in ch.consume("tasks", inactivity_timeout=2):
                if method is None or self.stopping.is_set():
                    break
                ch.basic_ack(method.delivery_tag)
                got += 1
                if got >= count:
                    break
            ch.cancel()
        except Exception as e:
            self.event("tool_error", f"amqp {type(e).__name__} {e}")
            try:
                self.amqp.close()
            except Exception:
                pass
            self.amqp = None

    def memcached_unit(self, big, k=1.0):
        """A cache client: 90 % gets, 10 % sets of 100 B-4 KiB values over 200k keys."""
        try:
            s = socket.create_connection((self.a.host, self.a.port), 5)
        except OSError as e:
            self.event("tool_error", f"memcached connect {e}")
            return
        f = s.makefile("rwb")
        end = time.monotonic() + (15 if big else 5)
        ops = 0
        target = None if big else self.rng.randint(100, 400) * k / 5  # ops per second
        try:
            while time.monotonic() < end and not self.stopping.is_set():
                key = f"k{self.rng.randint(0, 200000)}"
                if self.rng.random() < 0.1 or big and self.rng.random() < 0.5:
                    val = b"v" * self.rng.randint(100, 4096)
                    f.write(b"set %s 0 0 %d\r\n%s\r\n" % (key.encode(), len(val), val))
                    f.flush()
                    f.readline()
                else:
                    f.write(b"get %s\r\n" % key.encode())
                    f.flush()
                    while True:
                        line = f.readline()
                        if not line or line == b"END\r\n":
                            break
                        if line.startswith(b"VALUE"):
                            f.read(int(line.split()[3]) + 2)
                ops += 1
                if target:
                    ahead = ops / target - (5 - (end - time.monotonic()))
                    if ahead > 0:
                        time.sleep(ahead)
        except OSError as e:
            self.event("tool_error", f"memcached {e}")
        finally:
            s.close()

    def steady(self):
        k = INTENSITY[self.a.shape]
        while self.left() > 0 and not self.stopping.is_set():
            t = time.monotonic()
            self.unit(big=False, k=k)
            self.sleep(5 - (time.monotonic() - t))

    def bursty(self):
        while self.sleep(self.rng.uniform(45, 200)):
            length = self.rng.uniform(10, 40)
            self.event("burst_start", f"{length:.0f}s")
            end = time.monotonic() + length
            while time.monotonic() < end and self.left() > 0 and not self.stopping.is_set():
                self.unit(big=True)
            self.event("burst_end")

    def batch(self):
        # quiet, a 5-minute job, quiet, a 3-minute job, quiet
        for quiet_until, job in ((120, 300), (600, 180)):
            if not self.sleep(quiet_until - self.elapsed()):
                return
            self.event("batch_start", f"{job}s")
            end = time.monotonic() + job
            while time.monotonic() < end and self.left() > 0 and not self.stopping.is_set():
                self.unit(big=True)
            self.event("batch_end")
        self.sleep(self.left())

    def main(self):
        threading.Thread(target=self.probe_loop, daemon=True).start()
        a = self.a
        if a.cls == "postgresql" and a.shape != "idle":
            # the application loads its schema and data (a batch of writes right after start)
            scale = {"light": "2", "steady": "5", "heavy": "10", "bursty": "2", "batch": "10"}[a.shape]
            self.event("pgbench_init_start", f"scale={scale}")
            self.run(["pgbench", "-h", a.host, "-U", "postgres", "-i", "-q", "-s", scale, "postgres"])
            self.event("pgbench_init_end")
        if a.shape == "idle":
            self.sleep(self.left())
        elif a.shape in INTENSITY:
            self.steady()
        else:
            getattr(self, a.shape)()


def cmd_load(args):
    Load(args).main()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record", help="record instances")
    r.add_argument("instances", nargs="*", help=f"instances to record (default all): {' '.join(INSTANCES)}")
    r.add_argument("--out", required=True, help="directory for the output files")
    r.add_argument("--root", default="/var/tmp/cad-rec", help="where instance directories are made")
    r.add_argument("--duration", type=int, default=900, help="seconds per instance from its start (60..86400)")
    r.add_argument("--interval", type=int, default=10, help="seconds between samples (1..60)")
    r.add_argument("--stagger", type=float, default=15, help="seconds between instance starts")
    r.add_argument("--seed", type=int, default=1, help="seed of the load schedules")
    r.add_argument("--tag", help="suffix of the output file names (default: the start time)")
    r.add_argument("--keep", action="store_true", help="keep the instance directories")
    r.add_argument("--log-max-bytes", type=int, default=10 * 2**20,
                   help="rotate the container log at this size (the kubelet's containerLogMaxSize, 10Mi)")
    r.add_argument("--log-max-files", type=int, default=5,
                   help="container log files kept, rotated ones gzipped (the kubelet's containerLogMaxFiles, 5)")
    l_ = sub.add_parser("load", help="(internal) load driver of one instance")
    l_.add_argument("--cls", required=True, choices=sorted(PORTS))
    l_.add_argument("--shape", required=True, choices=["idle", "light", "steady", "heavy", "bursty", "batch"])
    l_.add_argument("--host", required=True)
    l_.add_argument("--port", type=int, required=True)
    l_.add_argument("--seconds", type=int, required=True)
    l_.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    {"record": cmd_record, "load": cmd_load}[args.cmd](args)


if __name__ == "__main__":
    main()
