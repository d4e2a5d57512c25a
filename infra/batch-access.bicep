// The one permission pool-resizer needs on Batch, granted to the Function
// App's identity on the Batch account only.
//
// The resizer reads pools and nodes (GET /pools/{id}, GET /pools/{id}/nodes)
// and resizes (POST /pools/{id}/resize, /stopresize). In Batch RBAC those are
// the ARM actions Microsoft.Batch/batchAccounts/pools/read and .../write;
// jobs and tasks are DataActions we never need. "Azure Batch Data
// Contributor" would also grant pools/delete and every job/task DataAction,
// so by default we define a role with just the two actions. "Account
// Reader" and "Job Submitter" cannot resize.

param batchAccountName string
param principalId string
@allowed(['custom', 'builtin'])
param batchRole string
param dataContributorRoleId string

resource batchAccount 'Microsoft.Batch/batchAccounts@2024-07-01' existing = {
  name: batchAccountName
}

var customRoleGuid = guid(batchAccount.id, 'pool-resizer-pools-read-write')

resource poolResizerRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (batchRole == 'custom') {
  name: customRoleGuid
  properties: {
    roleName: 'Batch pool resizer (${batchAccountName})'
    description: 'Read and resize the pools of one Batch account; nothing else (pool-resizer).'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Batch/batchAccounts/pools/read'
          'Microsoft.Batch/batchAccounts/pools/write'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

var roleDefinitionId = subscriptionResourceId(
  'Microsoft.Authorization/roleDefinitions',
  batchRole == 'custom' ? customRoleGuid : dataContributorRoleId
)

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(batchAccount.id, principalId, batchRole)
  scope: batchAccount
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
  // The custom role is declared in this resource-group deployment, so ARM
  // knows it by its resource-group id: Bicep compiles this to
  // resourceId('Microsoft.Authorization/roleDefinitions', ...), and
  // main.json must say the same (a dependsOn is matched against the ids of
  // the template's resources). roleDefinitionId above is another matter: the
  // id the authorization service gives a role, at subscription level.
  // With batchRole=builtin the role is not deployed and ARM drops the
  // dependency.
  dependsOn: [poolResizerRole]
}
