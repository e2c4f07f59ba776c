/**
 * The Kubernetes manifests: every rendered object validates against the
 * Kubernetes schemas (kubernetes-models), and the wiring matches the code:
 * selectors, ports, probe paths, environment names, commands and the drain
 * budget.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Namespace, Service } from 'kubernetes-models/v1';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

import { configEnvNames, parseListen } from '../../shared/config.js';

const BASE = 'deploy/k8s/base';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- manifests under test

interface Kustomization {
  namespace?: string;
  resources: string[];
  labels?: { pairs: Record<string, string> }[];
  images?: { name: string; newName?: string; newTag?: string }[];
}

/**
 * Renders the base the way kustomize does for the features it uses:
 * resources, namespace, labels (not on selectors) and image overrides.
 */
function render(): Obj[] {
  const k = parseYaml(readFileSync(join(BASE, 'kustomization.yaml'), 'utf8')) as Kustomization;
  const objects = k.resources.flatMap((file) =>
    parseAllDocuments(readFileSync(join(BASE, file), 'utf8')).map((d) => d.toJS() as Obj),
  );
  for (const o of objects) {
    if (k.namespace && o.kind !== 'Namespace') {
      o.metadata.namespace = k.namespace;
    }
    for (const { pairs } of k.labels ?? []) {
      o.metadata.labels = { ...o.metadata.labels, ...pairs };
    }
    for (const c of containers(o)) {
      const image = k.images?.find((i) => i.name === c.image);
      if (image) {
        c.image = `${image.newName ?? image.name}:${image.newTag ?? 'latest'}`;
      }
    }
  }
  return objects;
}

function containers(o: Obj): Obj[] {
  return (o.spec?.template?.spec?.containers as Obj[] | undefined) ?? [];
}

const MODELS: Record<string, new (data: Obj) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

function find(objects: Obj[], kind: string, name: string): Obj {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind} ${name} is missing`);
  return o;
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function env(container: Obj, name: string): string | undefined {
  return (container.env as Obj[]).find((e) => e.name === name)?.value as string | undefined;
}

describe('deploy/k8s/base', function () {
  const objects = render();
  const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');

  it('should validate every object against the Kubernetes schemas', function () {
    assert.ok(objects.length >= 10);
    for (const o of objects) {
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      assert.ok(Model, `no schema for ${o.apiVersion} ${o.kind}`);
      new Model(o).validate();
    }
  });

  it('should select its own pods in every workload, service, budget and policy', function () {
    for (const w of workloads) {
      assert.ok(
        matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels),
        w.metadata.name,
      );
    }
    for (const svc of objects.filter((o) => o.kind === 'Service')) {
      const target = workloads.find((w) =>
        matches(svc.spec.selector, w.spec.template.metadata.labels),
      );
      assert.ok(target, `service ${svc.metadata.name} selects no pods`);
      const portNames = containers(target).flatMap((c) => (c.ports as Obj[]).map((p) => p.name));
      for (const port of svc.spec.ports as Obj[]) {
        assert.ok(
          portNames.includes(port.targetPort),
          `${svc.metadata.name} -> ${port.targetPort}`,
        );
      }
    }
    const dataPlane = find(objects, 'Deployment', 'data-plane');
    const pdb = find(objects, 'PodDisruptionBudget', 'data-plane');
    assert.ok(matches(pdb.spec.selector.matchLabels, dataPlane.spec.template.metadata.labels));
    const hpa = find(objects, 'HorizontalPodAutoscaler', 'data-plane');
    assert.equal(hpa.spec.scaleTargetRef.name, 'data-plane');
    assert.equal(hpa.spec.metrics[0].resource.name, 'cpu');
  });

  it('should expose the data plane outside and keep the control plane inside the cluster', function () {
    assert.equal(find(objects, 'Service', 'data-plane').spec.type, 'LoadBalancer');
    assert.equal(find(objects, 'Service', 'control-plane').spec.type, 'ClusterIP');
    assert.equal(find(objects, 'Deployment', 'control-plane').spec.replicas, 2);
    assert.equal(find(objects, 'Deployment', 'data-plane').spec.replicas, 3);
    assert.equal(find(objects, 'StatefulSet', 'etcd').spec.replicas, 3);
  });

  it('should probe the endpoints and ports the code serves', function () {
    for (const name of ['control-plane', 'data-plane']) {
      const c = containers(find(objects, 'Deployment', name))[0] as Obj;
      const status = parseListen(env(c, 'TOLLGATE_STATUS_LISTEN'));
      const statusPort = (c.ports as Obj[]).find((p) => p.name === 'status');
      assert.equal(statusPort?.containerPort, status.port);
      assert.equal(status.host, '0.0.0.0', 'the kubelet probes the pod address');
      assert.equal(c.readinessProbe.httpGet.path, '/readyz');
      assert.equal(c.livenessProbe.httpGet.path, '/healthz');
      assert.equal(c.readinessProbe.httpGet.port, 'status');
    }
    const dp = containers(find(objects, 'Deployment', 'data-plane'))[0] as Obj;
    const http = (dp.ports as Obj[]).find((p) => p.name === 'http');
    assert.equal(http?.containerPort, parseListen(env(dp, 'TOLLGATE_GATEWAY_LISTEN')).port);
    const cp = containers(find(objects, 'Deployment', 'control-plane'))[0] as Obj;
    const admin = (cp.ports as Obj[]).find((p) => p.name === 'admin');
    assert.equal(admin?.containerPort, parseListen(env(cp, 'TOLLGATE_ADMIN_LISTEN')).port);
  });

  it('should only use environment names the configuration reads', function () {
    const known = new Set(configEnvNames());
    for (const w of workloads.filter((x) => x.metadata.name !== 'etcd')) {
      for (const e of containers(w)[0]?.env as Obj[]) {
        assert.ok(known.has(e.name), `${w.metadata.name}: ${e.name} is not a setting`);
      }
    }
  });

  it('should take the admin key and keyring from a Secret', function () {
    const cp = containers(find(objects, 'Deployment', 'control-plane'))[0] as Obj;
    const key = (cp.env as Obj[]).find((e) => e.name === 'TOLLGATE_ADMIN_KEY');
    assert.equal(key?.valueFrom.secretKeyRef.name, 'tollgate-secrets');
    const dp = containers(find(objects, 'Deployment', 'data-plane'))[0] as Obj;
    const ring = (dp.env as Obj[]).find((e) => e.name === 'TOLLGATE_KEYRING');
    assert.equal(ring?.valueFrom.secretKeyRef.name, 'tollgate-secrets');
  });

  it('should run the same commands as the npm scripts, through the image entry point', function () {
    const dockerfile = readFileSync('deploy/docker/Dockerfile', 'utf8');
    const entry = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as Obj).scripts as Obj;
    for (const name of ['control-plane', 'data-plane']) {
      const args = containers(find(objects, 'Deployment', name))[0]?.args as string[];
      assert.equal([...entry, ...args].join(' '), scripts[name]);
    }
    assert.match(dockerfile, /^USER node$/m, 'the image runs as a non-root user');
  });

  it('should give the data plane time to drain before it is killed', function () {
    const dp = find(objects, 'Deployment', 'data-plane');
    const c = containers(dp)[0] as Obj;
    const pause = Number(c.lifecycle.preStop.exec.command[1]);
    const drainSeconds = Number(env(c, 'TOLLGATE_DRAIN_MS')) / 1000;
    assert.ok(pause > 0);
    assert.ok(dp.spec.template.spec.terminationGracePeriodSeconds >= pause + drainSeconds);
  });

  it('should spread etcd members over nodes and keep their data on volumes', function () {
    const etcd = find(objects, 'StatefulSet', 'etcd');
    const anti = etcd.spec.template.spec.affinity.podAntiAffinity;
    assert.equal(
      anti.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey,
      'kubernetes.io/hostname',
    );
    assert.equal(etcd.spec.volumeClaimTemplates[0].metadata.name, 'data');
    assert.equal(find(objects, 'Service', 'etcd-peer').spec.clusterIP, 'None');
  });

  it('should let only the planes reach etcd clients', function () {
    const policy = find(objects, 'NetworkPolicy', 'etcd');
    const etcdLabels = find(objects, 'StatefulSet', 'etcd').spec.template.metadata.labels;
    assert.ok(matches(policy.spec.podSelector.matchLabels, etcdLabels));
    const clientRule = (policy.spec.ingress as Obj[]).find((r) =>
      (r.ports as Obj[]).some((p) => p.port === 2379),
    );
    const allowed = (clientRule?.from as Obj[]).map(
      (f) => f.podSelector.matchLabels['app.kubernetes.io/component'] as string,
    );
    assert.deepEqual(allowed.sort(), ['control-plane', 'data-plane']);
  });
});

describe('deploy/docker/compose.yaml', function () {
  const compose = parseYaml(readFileSync('deploy/docker/compose.yaml', 'utf8'), {
    merge: true,
  }) as Obj;
  const services = compose.services as Obj;

  it('should run etcd, one control plane, two data planes and the example upstream', function () {
    assert.deepEqual(Object.keys(services).sort(), [
      'control-plane',
      'data-plane-1',
      'data-plane-2',
      'etcd',
      'upstream',
    ]);
    assert.deepEqual(services['control-plane'].command, ['control-plane']);
    assert.deepEqual(services['data-plane-1'].command, ['data-plane']);
    assert.deepEqual(services['data-plane-2'].command, ['data-plane']);
  });

  it('should health-check every service and use only known settings', function () {
    const known = new Set(configEnvNames());
    for (const [name, svc] of Object.entries(services) as [string, Obj][]) {
      assert.ok(svc.healthcheck?.test, `${name} has no health check`);
      if (name.includes('plane')) {
        for (const key of Object.keys(svc.environment as Obj)) {
          assert.ok(known.has(key), `${name}: ${key} is not a setting`);
        }
      }
    }
  });
});
