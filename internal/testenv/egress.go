package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// The apiserver reaches "the cluster" — the service and pod proxies, service-backed webhooks and
// aggregated APIs — through its egress selector. A test Kube configures only the "cluster"
// egress (etcd and the control plane stay direct), pointing it at an HTTP CONNECT proxy the test
// process serves on a unix socket. That proxy is where servers running on 127.0.0.1 become
// reachable at cluster addresses:
//
//   - Endpoints and EndpointSlices may not hold loopback or link-local addresses, so a Service
//     cannot point at 127.0.0.1 directly.
//   - The service proxy resolves a Service through its EndpointSlices only, and accepts an
//     endpoint only when its targetRef names a Pod whose status.podIPs holds the address.
//   - It then dials the address with the "cluster" egress dialer, without checking it further.
//
// ExposeLocal therefore gives a local server a documentation address (RFC 5737, not routed on
// the internet), a Pod that claims it, a Service and an EndpointSlice, and tells the proxy to
// connect that address to the local one. Any other address is dialed as asked, so cluster egress
// keeps working as it would without the proxy.

const (
	// egressConfigName and egressSocketName are the apiserver's egress selector configuration
	// and the proxy's socket, in Kube.Dir.
	egressConfigName = "egress-selector.yaml"
	egressSocketName = "egress.sock"
	// egressLogName is the proxy's log in Kube.Dir: one line per refused or failed connection.
	egressLogName = "egress-proxy.log"
	// maxSocketPath keeps a unix socket path below the 108 bytes Linux allows, NUL included.
	maxSocketPath = 100
	// egressDialTimeout bounds reading the CONNECT request and dialing its target.
	egressDialTimeout = 10 * time.Second
	// exposedNode is the spec.nodeName of the Pods ExposeLocal creates. No such Node exists,
	// and none is needed: there is no scheduler and no kubelet, and the apiserver does not
	// check it.
	exposedNode = "secretshift-test-node"
)

// egressConfig is the EgressSelectorConfiguration (apiserver.k8s.io/v1beta1) for kube-apiserver's
// --egress-selector-config-file: "cluster" traffic through an HTTP CONNECT proxy on a unix
// socket; etcd and controlplane are not listed, so they are dialed directly.
const egressConfig = `apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: %s
`

// egressProxy is an HTTP CONNECT proxy on a unix socket. It connects the addresses in its
// route table to other ones and dials any other address as asked.
type egressProxy struct {
	ln      net.Listener
	sockDir string // a folder of its own for the socket, removed by close; "" if in Kube.Dir
	logger  *log.Logger
	logFile *os.File
	dialer  net.Dialer
	wg      sync.WaitGroup // the accept loop and one per client connection
	mu      sync.Mutex
	routes  map[string]string // cluster address -> local address
	// conns are the open connections, both sides, with the address their CONNECT asked for
	// ("" until it is read). close closes them all; a route change closes those of its address.
	conns    map[net.Conn]string
	closed   bool
	closeErr error
}

// startEgressProxy starts the proxy on a socket in dir (or, when that path is too long for a
// socket, in a new temporary folder), writes the apiserver's egress selector configuration for
// it into dir, and returns the proxy with the configuration's path.
func startEgressProxy(dir string) (*egressProxy, string, error) {
	p := &egressProxy{routes: map[string]string{}, conns: map[net.Conn]string{}}
	sock := filepath.Join(dir, egressSocketName)
	if len(sock) > maxSocketPath {
		d, err := os.MkdirTemp("", "secretshift-egress-")
		if err != nil {
			return nil, "", fmt.Errorf("create egress proxy socket dir: %w", err)
		}
		p.sockDir = d
		sock = filepath.Join(d, egressSocketName)
	}
	cleanup := func() {
		if p.sockDir != "" {
			_ = os.RemoveAll(p.sockDir)
		}
	}
	cfgPath := filepath.Join(dir, egressConfigName)
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, egressConfig, strconv.Quote(sock)), 0o600); err != nil {
		cleanup()
		return nil, "", fmt.Errorf("write egress selector configuration: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(dir, egressLogName), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		cleanup()
		return nil, "", fmt.Errorf("create egress proxy log: %w", err)
	}
	p.logFile = logFile
	p.logger = log.New(logFile, "", log.LstdFlags|log.Lmicroseconds)
	// A socket left by an earlier run in the same dir would make Listen fail.
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		_ = logFile.Close()
		cleanup()
		return nil, "", fmt.Errorf("start egress proxy: %w", err)
	}
	p.ln = ln
	p.wg.Add(1)
	go p.serve()
	return p, cfgPath, nil
}

// route makes the proxy connect clusterAddr to localAddr, replacing any earlier route of it.
//
// Tunnels to clusterAddr that lead elsewhere are closed: the apiserver keeps idle connections
// to an endpoint for reuse, and would otherwise go on reaching the old server through them.
func (p *egressProxy) route(clusterAddr, localAddr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.targetLocked(clusterAddr) != localAddr {
		p.closeTunnelsLocked(clusterAddr)
	}
	p.routes[clusterAddr] = localAddr
}

// unroute removes the route of clusterAddr, and closes the tunnels through it, if it still
// leads to localAddr.
func (p *egressProxy) unroute(clusterAddr, localAddr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.routes[clusterAddr] == localAddr {
		delete(p.routes, clusterAddr)
		p.closeTunnelsLocked(clusterAddr)
	}
}

// target returns where a CONNECT to addr goes.
func (p *egressProxy) target(addr string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.targetLocked(addr)
}

func (p *egressProxy) targetLocked(addr string) string {
	if to, ok := p.routes[addr]; ok {
		return to
	}
	return addr
}

// closeTunnelsLocked closes the connections of tunnels to addr; their handlers then end.
func (p *egressProxy) closeTunnelsLocked(addr string) {
	for c, a := range p.conns {
		if a == addr {
			_ = c.Close()
		}
	}
}

// close stops accepting, closes every open connection and waits for the goroutines to end.
// It may be called more than once.
func (p *egressProxy) close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return p.closeErr
	}
	p.closed = true
	err := p.ln.Close() // removes the socket file too
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	err = errors.Join(err, p.logFile.Close())
	if p.sockDir != "" {
		err = errors.Join(err, os.RemoveAll(p.sockDir))
	}
	if err != nil {
		err = fmt.Errorf("stop egress proxy: %w", err)
	}
	p.mu.Lock()
	p.closeErr = err
	p.mu.Unlock()
	return err
}

// track registers an accepted connection so that close can end it; it reports false, having
// closed c, when the proxy is closing.
func (p *egressProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = ""
	return true
}

// open registers both sides of a tunnel to addr, whose far side up was dialed at to. It
// reports false, having closed both, when the proxy is closing or addr's route changed while
// up was being dialed.
func (p *egressProxy) open(c, up net.Conn, addr, to string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.targetLocked(addr) != to {
		_ = c.Close()
		_ = up.Close()
		return false
	}
	p.conns[c] = addr
	p.conns[up] = addr
	return true
}

// release closes c and forgets it.
func (p *egressProxy) release(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *egressProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of file descriptors and the like: retry, as net/http does.
			p.logger.Printf("accept: %v", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if !p.track(c) {
			return
		}
		// The accept loop's own count keeps the group above zero, so close cannot be
		// waiting yet: this Add is safe.
		p.wg.Add(1)
		go p.handle(c)
	}
}

// handle answers one CONNECT request and then copies bytes both ways until both sides are
// done, either fails, or the proxy closes.
func (p *egressProxy) handle(c net.Conn) {
	defer p.wg.Done()
	defer p.release(c)

	_ = c.SetDeadline(time.Now().Add(egressDialTimeout))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		p.logger.Printf("read CONNECT request: %v", err)
		return
	}
	if req.Method != http.MethodConnect {
		p.logger.Printf("refused %s %s: not CONNECT", req.Method, req.RequestURI)
		_, _ = io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\n\r\n")
		return
	}
	addr := req.URL.Host // the authority form of a CONNECT: host:port
	if addr == "" {
		p.logger.Printf("refused CONNECT %s: no host:port", req.RequestURI)
		_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
		return
	}
	to := p.target(addr)
	ctx, cancel := context.WithTimeout(context.Background(), egressDialTimeout)
	up, err := p.dialer.DialContext(ctx, "tcp", to)
	cancel()
	if err != nil {
		p.logger.Printf("CONNECT %s (dialed %s): %v", addr, to, err)
		_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n")
		return
	}
	defer p.release(up)
	if !p.open(c, up, addr, to) {
		return
	}
	_ = c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}

	// The apiserver waits for the answer before it writes, so br holds nothing yet; reading
	// through it anyway loses nothing if a client does not wait.
	done := make(chan struct{})
	go func() {
		defer close(done)
		pipe(up, br, c)
	}()
	pipe(c, up, up)
	<-done
}

// pipe copies src to dst. When src ends cleanly it half-closes dst, so the other side sees
// the end of the stream while the opposite direction goes on; when the copy fails it closes
// both connections, which ends the opposite copy too.
func pipe(dst net.Conn, src io.Reader, srcConn net.Conn) {
	_, err := io.Copy(dst, src)
	if err == nil {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			return
		}
	}
	_ = dst.Close()
	_ = srcConn.Close()
}

// ExposeLocal makes a server listening on localAddr (e.g. 127.0.0.1:41234, plain TCP) reachable
// through the apiserver as port portName of Service namespace/name, for instance by the service
// proxy (.../services/http:name:portName/proxy/...), as if it ran in a Pod behind that Service.
//
// It creates, or brings up to date, the namespace (with its default ServiceAccount), a
// selector-less Service with that one port (port and targetPort port), a Pod named name on a
// Node that does not exist whose status claims a TEST-NET-1 address, and an EndpointSlice
// pointing at that Pod's address and port; then it routes that address and port to localAddr
// in the Kube's egress proxy. Each Service keeps its address across calls, so exposing it
// again (say, a restarted server on another port) only moves the route. unexpose removes the
// route; the objects stay, and the service proxy answers 503 for them from then on.
//
// The apiserver learns of the EndpointSlice through an informer, so the Service may answer
// "no endpoints available" for a moment after ExposeLocal returns; poll until it works.
func (k *Kube) ExposeLocal(ctx context.Context, namespace, name, portName string, port int32, localAddr string) (unexpose func(), err error) {
	if k.egress == nil {
		return nil, errors.New("expose a local server: this Kube has no egress proxy")
	}
	if _, _, err := net.SplitHostPort(localAddr); err != nil {
		return nil, fmt.Errorf("expose %s: %w", localAddr, err)
	}
	ip, err := k.exposedIP(namespace + "/" + name)
	if err != nil {
		return nil, err
	}
	if err := k.CreateNamespace(ctx, namespace); err != nil {
		return nil, err
	}
	cs, err := k.Clientset()
	if err != nil {
		return nil, err
	}
	if err := applyExposedService(ctx, cs, namespace, name, portName, port); err != nil {
		return nil, err
	}
	if err := applyExposedPod(ctx, cs, namespace, name, ip); err != nil {
		return nil, err
	}
	if err := applyExposedSlice(ctx, cs, namespace, name, portName, port, ip); err != nil {
		return nil, err
	}
	clusterAddr := net.JoinHostPort(ip, strconv.Itoa(int(port)))
	k.egress.route(clusterAddr, localAddr)
	return func() { k.egress.unroute(clusterAddr, localAddr) }, nil
}

// exposedNets are the documentation networks of RFC 5737 (TEST-NET-1, -2 and -3), where
// ExposeLocal takes addresses from.
var exposedNets = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
}

// exposedIP returns the address of an exposed Service, choosing a free one on first use.
//
// Addresses in a network of this machine's interfaces are skipped: documentation networks do
// serve as real ones in some sandboxes and CI runners (this one's eth0 may well be 192.0.2.2/24,
// with its gateway at 192.0.2.1). The proxy would route the address anyway, but a Pod claiming
// the gateway's address, or the apiserver's own, would be confusing to read in a log, and once
// the route is gone a stray request would reach a real machine.
func (k *Kube) exposedIP(service string) (string, error) {
	k.exposeMu.Lock()
	defer k.exposeMu.Unlock()
	if ip, ok := k.exposed[service]; ok {
		return ip, nil
	}
	var local []netip.Prefix
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("expose %s: list this machine's addresses: %w", service, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				ones, _ := n.Mask.Size()
				local = append(local, netip.PrefixFrom(ip.Unmap(), ones).Masked())
			}
		}
	}
	taken := map[string]bool{}
	for _, ip := range k.exposed {
		taken[ip] = true
	}
	for _, network := range exposedNets {
		if slices.ContainsFunc(local, network.Overlaps) {
			continue
		}
		// Hosts .10 to .254: gateways and the like tend to sit below, and .255 is the
		// broadcast address.
		for host := 10; host < 255; host++ {
			b := network.Addr().As4()
			b[3] = byte(host)
			ip := netip.AddrFrom4(b).String()
			if !taken[ip] {
				if k.exposed == nil {
					k.exposed = map[string]string{}
				}
				k.exposed[service] = ip
				return ip, nil
			}
		}
	}
	return "", fmt.Errorf("expose %s: no free address left in %v outside this machine's networks", service, exposedNets)
}

func applyExposedService(ctx context.Context, cs kubernetes.Interface, namespace, name, portName string, port int32) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{
			Name: portName, Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(port),
		}}},
	}
	_, err := cs.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var cur *corev1.Service
		if cur, err = cs.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			cur.Spec.Selector = nil
			cur.Spec.Ports = svc.Spec.Ports
			_, err = cs.CoreV1().Services(namespace).Update(ctx, cur, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("create service %s/%s: %w", namespace, name, err)
	}
	return nil
}

// applyExposedPod creates the Pod the EndpointSlice refers to and sets its status, as a kubelet
// would, to running at ip: the service proxy only accepts endpoints of Pods that own their
// address.
func applyExposedPod(ctx context.Context, cs kubernetes.Interface, namespace, name, ip string) error {
	pods := cs.CoreV1().Pods(namespace)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.PodSpec{
			NodeName:   exposedNode,
			Containers: []corev1.Container{{Name: "server", Image: "registry.example/secretshift-testenv-local:1"}},
		},
	}
	cur, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		cur, err = pods.Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("create pod %s/%s: %w", namespace, name, err)
	}
	cur.Status.Phase = corev1.PodRunning
	cur.Status.PodIP = ip
	cur.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	cur.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	if _, err := pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("set status of pod %s/%s: %w", namespace, name, err)
	}
	return nil
}

// applyExposedSlice creates (or updates) the EndpointSlice named after the Service, as the
// EndpointSlice controller would for a Service with a selector.
func applyExposedSlice(ctx context.Context, cs kubernetes.Interface, namespace, name, portName string, port int32, ip string) error {
	client := cs.DiscoveryV1().EndpointSlices(namespace)
	ready := true
	tcp := corev1.ProtocolTCP
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{
			discoveryv1.LabelServiceName: name,
			discoveryv1.LabelManagedBy:   "secretshift-testenv",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			NodeName:   ptr(exposedNode),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: namespace, Name: name},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: &portName, Protocol: &tcp, Port: &port}},
	}
	_, err := client.Create(ctx, slice, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var cur *discoveryv1.EndpointSlice
		if cur, err = client.Get(ctx, name, metav1.GetOptions{}); err == nil {
			cur.Labels = slice.Labels
			cur.Endpoints = slice.Endpoints
			cur.Ports = slice.Ports
			_, err = client.Update(ctx, cur, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("create endpoint slice %s/%s: %w", namespace, name, err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
