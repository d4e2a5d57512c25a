// pool-resizer: the Function App (custom handler), its storage, a Log
// Analytics workspace with workspace-based Application Insights on it, a
// system-assigned identity, and the least-privilege role on the existing
// Batch account that the resizer's data-plane calls need. infra/main.json is
// the same template as ARM JSON (hand-kept in step;
// tests/integration/deploy_templates.rs checks they agree, and
// deploy_rules.rs holds both plans to the services' own rules).
//
// Plan (hostingPlan): Flex Consumption (FC1) by default, which supports
// custom handlers (runtime 'custom' in functionAppConfig) and is where
// serverless Functions goes on. Linux Consumption (Y1) stays selectable as
// 'consumption-legacy' for subscriptions or regions without Flex, but it is
// legacy: no new features since 30 September 2025, retired on 30 September
// 2028. The same zip and host.json run on both (docs/deploy.md).

@description('Name of the Function App (globally unique: <name>.azurewebsites.net).')
param appName string

@description('Region for the new resources.')
param location string = resourceGroup().location

@description('flex: Flex Consumption (FC1), the default. consumption-legacy: Linux Consumption (Y1), legacy (retired 30 September 2028), for where Flex is not available.')
@allowed(['flex', 'consumption-legacy'])
param hostingPlan string = 'flex'

@description('Flex Consumption only: most instances the app scales out to, 1 to 1000 as the Flex docs now say. The handler is stateless and light, so few are plenty; the default 40 is the floor the plan had before ceilings under 40 reached every region (a region that still refuses less says so when you deploy).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Flex Consumption only: memory of one instance in MB, one of the sizes the Flex docs list (512, 2048, 4096). The handler itself holds about 10 MiB: 512 bills a quarter of 2048, but some regions refused it until early 2026, so 2048 (the documented default) stays the default.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

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

@description('Inline wait of an HTTP call that names none (seconds, at most 200: the 230 s front-end cut also covers a cold start).')
@minValue(0)
@maxValue(200)
param defaultWaitSeconds int = 180

@description('Most dedicated nodes a request may ask for.')
param maxDedicatedNodes int = 10

@description('Most low-priority/Spot nodes a request may ask for.')
param maxLowPriorityNodes int = 10

@description('NCRONTAB (UTC) of the scheduled scale-up.')
param scaleUpSchedule string = '0 0 6 * * 1-5'

@description('NCRONTAB (UTC) of the scheduled scale-down.')
param scaleDownSchedule string = '0 0 7 * * 1-5'

@description('NCRONTAB (UTC) of the reconcile timer, which repairs a missed scale-up inside the window, and with scheduleWindows opens and closes the windows (timer-reconcile needs it: the host will not start without it).')
param reconcileSchedule string = '0 */15 * * * *'

@description('Dedicated nodes the scheduled scale-up asks for.')
param scheduleDedicatedNodes int = 1

@description('Low-priority nodes the scheduled scale-up asks for.')
param scheduleLowPriorityNodes int = 0

@description('How long a timer run waits (seconds; under host.json\'s 10-minute functionTimeout).')
param timerWaitSeconds int = 540

@description('Local business hours, e.g. \'Mon-Fri 06:00-07:00; Sat 09:00-10:00 dedicated=2\' (docs/schedules.md), read in scheduleTimeZone with daylight saving; replaces the two UTC schedules as the window, enforced by the reconcile timer. Empty: the window is scaleUpSchedule to scaleDownSchedule, in UTC.')
param scheduleWindows string = ''

@description('IANA time zone of scheduleWindows, e.g. Europe/Brussels (not WEBSITE_TIME_ZONE, which Flex Consumption does not support: the handler does the zone itself).')
param scheduleTimeZone string = 'UTC'

@description('STATUS_URL_SECRET: signs the status URLs that 202 answers carry, so that only a URL the service issued can act (at least 32 characters; one app setting, so every instance shares it). The default is a new random value on every deployment, which ends the status URLs issued before it: pass the current value to keep it, or pass it as statusUrlSecretPrevious to rotate (docs/deploy.md).')
@secure()
@minLength(32)
param statusUrlSecret string = '${newGuid()}${newGuid()}'

@description('STATUS_URL_SECRET_PREVIOUS: the secret before the last rotation; status URLs signed with it keep working until they expire (STATUS_URL_TTL_MINUTES). Empty: none. Clear it once those URLs have expired.')
@secure()
param statusUrlSecretPrevious string = ''

var storageName = take('st${uniqueString(resourceGroup().id, appName)}', 24)
// Workspace names are 4-63 characters; an app name is at most 60.
var logWorkspaceName = take('${appName}-logs', 63)
var dataContributorRoleId = '6aaa78f1-f7de-44ca-8722-c64a23943cae'
var isFlex = hostingPlan == 'flex'
var planSkus = {
  flex: { name: 'FC1', tier: 'FlexConsumption' }
  'consumption-legacy': { name: 'Y1', tier: 'Dynamic' }
}
// Flex deploys the package into this container (one deploy); the app reads
// it with its own identity, so no key for it is stored anywhere.
var deploymentContainerName = 'app-package'
var deploymentContainerUrl = 'https://${storageName}.blob.${environment().suffixes.storage}/${deploymentContainerName}'
var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

// Flex Consumption's replacement for FUNCTIONS_WORKER_RUNTIME,
// WEBSITE_RUN_FROM_PACKAGE and the scale settings.
var flexFunctionAppConfig = {
  deployment: {
    storage: {
      type: 'blobContainer'
      value: deploymentContainerUrl
      authentication: { type: 'SystemAssignedIdentity' }
    }
  }
  runtime: { name: 'custom', version: '1.0' }
  scaleAndConcurrency: {
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
}

// Every setting the code reads, on both plans.
var appSettings = [
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
  { name: 'SCHEDULE_WINDOWS', value: scheduleWindows }
  { name: 'SCHEDULE_TIME_ZONE', value: scheduleTimeZone }
  { name: 'STATUS_URL_SECRET', value: statusUrlSecret }
  { name: 'STATUS_URL_SECRET_PREVIOUS', value: statusUrlSecretPrevious }
]

// Linux Consumption needs these; Flex sets the runtime version itself and
// takes the language from functionAppConfig.runtime, and refuses
// FUNCTIONS_WORKER_RUNTIME as an app setting.
var legacyOnlyAppSettings = [
  { name: 'FUNCTIONS_EXTENSION_VERSION', value: '~4' }
  { name: 'FUNCTIONS_WORKER_RUNTIME', value: 'custom' }
]

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

// Must exist before the app is created pointing at it.
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = if (isFlex) {
  name: '${storage.name}/default/${deploymentContainerName}'
  properties: {
    publicAccess: 'None'
  }
}

// Application Insights stores its telemetry in this workspace
// (workspace-based): regions that no longer take classic resources refuse
// one without it, and elsewhere Azure would create a managed workspace in a
// resource group of its own, outside this deployment.
resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logWorkspaceName
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: appName
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
  }
}

// The workbook that answers "why did my pipeline wait?" (docs/telemetry.md),
// on the workspace where Application Insights keeps the handler's metrics
// and requests (AppMetrics, AppRequests). Its queries are in workbook.json.
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, appName, 'pool-resizer-workbook')
  location: location
  kind: 'shared'
  properties: {
    displayName: 'pool-resizer: why did my pipeline wait? (${appName})'
    category: 'workbook'
    sourceId: logs.id
    serializedData: loadTextContent('workbook.json')
  }
}

resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  name: '${appName}-plan'
  location: location
  kind: 'functionapp'
  sku: planSkus[hostingPlan]
  properties: {
    reserved: true // a Linux plan, on both (as Microsoft's Flex samples set it)
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
    // Site properties the Flex deprecation table lists are left out on Flex
    // (ARM does not send a property set to null): reserved (not valid there;
    // Linux Consumption needs it), ftpsState (FTPS is not supported on Flex)
    // and linuxFxVersion (replaced by functionAppConfig.runtime). A custom
    // handler has no language stack, hence '' on Linux Consumption.
    reserved: isFlex ? null : true
    httpsOnly: true
    functionAppConfig: isFlex ? flexFunctionAppConfig : null
    siteConfig: {
      linuxFxVersion: isFlex ? null : ''
      ftpsState: isFlex ? null : 'Disabled'
      minTlsVersion: '1.2'
      appSettings: concat(isFlex ? [] : legacyOnlyAppSettings, appSettings)
    }
  }
  dependsOn: [deploymentContainer]
}

// The app's identity writes and reads its package in the deployment
// container, and nothing else in the storage account.
resource deploymentAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isFlex) {
  name: guid(storage.id, deploymentContainerName, appName, storageBlobDataContributorRoleId)
  scope: deploymentContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
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
output hostingPlan string = hostingPlan
