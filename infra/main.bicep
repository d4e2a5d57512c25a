// pool-resizer: the Function App (Linux Consumption, custom handler), its
// storage and Application Insights, a system-assigned identity, and the
// least-privilege role on the existing Batch account that the resizer's
// data-plane calls need. infra/main.json is the same template as ARM JSON
// (hand-kept in step; tests/deploy_templates.rs checks they agree).
//
// Plan: Linux Consumption (Y1). Custom handlers are documented for it, its
// 10-minute functionTimeout covers host.json's 00:10:00, and HTTP waits are
// capped at 220 s by the 230 s front end anyway. Flex Consumption is the
// successor, but custom-handler support on Flex is not confirmed in the docs
// we read; switch when it is (see docs/deploy.md).

@description('Name of the Function App (globally unique: <name>.azurewebsites.net).')
param appName string

@description('Region for the new resources.')
param location string = resourceGroup().location

@description('Name of the existing Batch account whose pools the app resizes.')
param batchAccountName string

@description('Resource group of the Batch account (default: this one).')
param batchAccountResourceGroup string = resourceGroup().name

@description('The pool a request without poolId means (BATCH_POOL_ID).')
param defaultPoolId string

@description('Pools requests may name (ALLOWED_POOLS): comma-separated ids, or * for every pool. Default: only defaultPoolId, so a leaked function key cannot resize other pools.')
param allowedPools string = defaultPoolId

@description('custom: a role with only pools/read + pools/write (least privilege). builtin: "Azure Batch Data Contributor", if your organisation forbids custom roles.')
@allowed(['custom', 'builtin'])
param batchRole string = 'custom'

@description('Inline wait of an HTTP call that names none (seconds, at most 220).')
@minValue(0)
@maxValue(220)
param defaultWaitSeconds int = 200

@description('Most dedicated nodes a request may ask for.')
param maxDedicatedNodes int = 10

@description('Most low-priority/Spot nodes a request may ask for.')
param maxLowPriorityNodes int = 10

@description('NCRONTAB (UTC) of the scheduled scale-up.')
param scaleUpSchedule string = '0 0 6 * * 1-5'

@description('NCRONTAB (UTC) of the scheduled scale-down.')
param scaleDownSchedule string = '0 0 7 * * 1-5'

@description('NCRONTAB (UTC) of the reconcile timer, which repairs a missed scale-up inside the window (timer-reconcile needs it: the host will not start without it).')
param reconcileSchedule string = '0 */15 * * * *'

@description('Dedicated nodes the scheduled scale-up asks for.')
param scheduleDedicatedNodes int = 1

@description('Low-priority nodes the scheduled scale-up asks for.')
param scheduleLowPriorityNodes int = 0

@description('How long a timer run waits (seconds; under the 10-minute function timeout).')
param timerWaitSeconds int = 540

var storageName = take('st${uniqueString(resourceGroup().id, appName)}', 24)
var dataContributorRoleId = '6aaa78f1-f7de-44ca-8722-c64a23943cae'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    supportsHttpsTrafficOnly: true
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: appName
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
  }
}

resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  name: '${appName}-plan'
  location: location
  kind: 'functionapp'
  sku: { name: 'Y1', tier: 'Dynamic' }
  properties: {
    reserved: true // Linux
  }
}

resource batchAccount 'Microsoft.Batch/batchAccounts@2024-07-01' existing = {
  name: batchAccountName
  scope: resourceGroup(batchAccountResourceGroup)
}

resource app 'Microsoft.Web/sites@2023-12-01' = {
  name: appName
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    reserved: true
    httpsOnly: true
    siteConfig: {
      linuxFxVersion: '' // custom handler: no language stack
      ftpsState: 'Disabled'
      minTlsVersion: '1.2'
      appSettings: [
        { name: 'FUNCTIONS_EXTENSION_VERSION', value: '~4' }
        { name: 'FUNCTIONS_WORKER_RUNTIME', value: 'custom' }
        { name: 'AzureWebJobsStorage', value: 'DefaultEndpointsProtocol=https;AccountName=${storage.name};EndpointSuffix=${environment().suffixes.storage};AccountKey=${storage.listKeys().keys[0].value}' }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'RUST_LOG', value: 'info' }
        { name: 'BATCH_ACCOUNT_URL', value: 'https://${batchAccount.properties.accountEndpoint}' }
        { name: 'BATCH_POOL_ID', value: defaultPoolId }
        { name: 'ALLOWED_POOLS', value: allowedPools }
        { name: 'DEFAULT_WAIT_SECONDS', value: string(defaultWaitSeconds) }
        { name: 'MAX_DEDICATED_NODES', value: string(maxDedicatedNodes) }
        { name: 'MAX_LOW_PRIORITY_NODES', value: string(maxLowPriorityNodes) }
        { name: 'SCALE_UP_SCHEDULE', value: scaleUpSchedule }
        { name: 'SCALE_DOWN_SCHEDULE', value: scaleDownSchedule }
        { name: 'SCHEDULE_RECONCILE_SCHEDULE', value: reconcileSchedule }
        { name: 'SCHEDULE_DEDICATED_NODES', value: string(scheduleDedicatedNodes) }
        { name: 'SCHEDULE_LOW_PRIORITY_NODES', value: string(scheduleLowPriorityNodes) }
        { name: 'TIMER_WAIT_SECONDS', value: string(timerWaitSeconds) }
      ]
    }
  }
}

// The role lives where the Batch account lives, which may be another group.
module batchAccess 'batch-access.bicep' = {
  name: '${appName}-batch-access'
  scope: resourceGroup(batchAccountResourceGroup)
  params: {
    batchAccountName: batchAccountName
    principalId: app.identity.principalId
    batchRole: batchRole
    dataContributorRoleId: dataContributorRoleId
  }
}

output functionAppName string = app.name
output functionAppUrl string = 'https://${app.properties.defaultHostName}'
output principalId string = app.identity.principalId
output batchAccountUrl string = 'https://${batchAccount.properties.accountEndpoint}'
