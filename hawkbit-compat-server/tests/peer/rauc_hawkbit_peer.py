#!/usr/bin/env python3
"""Drives the PyPI rauc-hawkbit client's DDI layer (rauc_hawkbit.ddi) through one whole
update against a server, the way its daemon (RaucDBUSDDIClient) does, minus the RAUC D-Bus
install: poll, send configData when asked, read the action id and the c parameter out of the
deploymentBase href with the client's own regex, fetch the deployment, download the first
artifact of the first chunk through the client's softwaremodules API, compare the MD5 with
hashes.md5, report progress, then closed/success, and poll once more.

Usage: rauc_hawkbit_peer.py HOST:PORT TENANT CONTROLLER_ID TOKEN DOWNLOAD_PATH
Prints one JSON line with what happened; exits non-zero on any failure.
"""
import asyncio
import json
import re
import sys

import aiohttp
from rauc_hawkbit.ddi.client import (DDIClient, ConfigStatusExecution,
                                     ConfigStatusResult)
from rauc_hawkbit.ddi.deployment_base import (DeploymentStatusExecution,
                                              DeploymentStatusResult)


async def run(host, tenant, controller_id, token, dl_path):
    report = {}
    async with aiohttp.ClientSession() as session:
        ddi = DDIClient(session, host, False, token, tenant, controller_id)
        base = await ddi()
        report['sleep'] = base['config']['polling']['sleep']
        links = base.get('_links', {})
        if 'configData' in links:
            await ddi.configData(ConfigStatusExecution.closed,
                                 ConfigStatusResult.success,
                                 installed_version='1.0.0', hw_revision='2')
            report['configData'] = 'sent'
            base = await ddi()
            links = base.get('_links', {})
        href = links['deploymentBase']['href']
        # The regex of RaucDBUSDDIClient.process_deployment.
        action_id, resource = re.search(r'/deploymentBase/(.+)\?c=(.+)$',
                                        href).groups()
        report['action_id'] = action_id
        info = await ddi.deploymentBase[action_id](resource)
        chunk = info['deployment']['chunks'][0]
        artifact = chunk['artifacts'][0]
        links = artifact['_links']
        url = links['download']['href'] if 'download' in links \
            else links['download-http']['href']
        module, filename = re.search('/softwaremodules/(.+)/artifacts/(.+)$',
                                     url).groups()
        await ddi.deploymentBase[action_id].feedback(
            DeploymentStatusExecution.proceeding, DeploymentStatusResult.none,
            ['Downloading bundle...'], percentage=0)
        md5 = await ddi.softwaremodules[module].artifacts[filename](dl_path)
        if md5 != artifact['hashes']['md5']:
            await ddi.deploymentBase[action_id].feedback(
                DeploymentStatusExecution.closed,
                DeploymentStatusResult.failure, ['checksum mismatch'])
            raise SystemExit('md5 mismatch: %s != %s' %
                             (md5, artifact['hashes']['md5']))
        report['md5'] = md5
        await ddi.deploymentBase[action_id].feedback(
            DeploymentStatusExecution.proceeding, DeploymentStatusResult.none,
            ['50%'], percentage=50)
        # What the daemon sends when RAUC reports the install completed.
        await ddi.deploymentBase[action_id].feedback(
            DeploymentStatusExecution.closed, DeploymentStatusResult.success,
            ['Software bundle installed successfully.'])
        after = await ddi()
        report['links_after'] = sorted(after.get('_links', {}).keys())
    print(json.dumps(report))


if __name__ == '__main__':
    host, tenant, cid, token, dl = sys.argv[1:6]
    asyncio.run(run(host, tenant, cid, token, dl))
